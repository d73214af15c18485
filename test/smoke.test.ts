import { test } from "uvu";
import * as assert from "uvu/assert";
test("faiss-node loads", () => { assert.type(require("faiss-node").Index, "function"); });
test.run();
