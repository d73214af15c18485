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

/** The message of the one-line KitError `run` rejects with. */
export async function kitError(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    assert.instance(err, KitError);
    assert.not.match((err as Error).message, /\n/);
    return (err as Error).message;
  }
  assert.unreachable("expected a KitError");
  return "";
}
