import * as assert from "uvu/assert";
import { KitError } from "../../lib/errors";

/** Asserts `run` throws a KitError with a one-line message matching `pattern`. */
export function throwsKit(run: () => unknown, pattern: RegExp) {
  try {
    run();
  } catch (err) {
    assert.instance(err, KitError);
    assert.not.match((err as Error).message, /\n/);
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a KitError matching ${pattern}`);
}
