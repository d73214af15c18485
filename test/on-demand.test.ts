import { setTimeout as sleep } from "node:timers/promises";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { onDemand } from "../lib/on-demand";

/** A resource that counts its starts and closes. */
function counted(fail = 0) {
  const log = { started: 0, closed: 0 };
  const start = async () => {
    if (log.started++ < fail) throw new Error("cannot start");
    const n = log.started;
    return { n, close: async () => void log.closed++ };
  };
  return { log, start };
}

test("one resource for calls that overlap; ended once idle; the next use starts a new one", async () => {
  const { log, start } = counted();
  const pool = onDemand(start, 30);
  const [a, b] = await Promise.all([pool.use(async (r) => (await sleep(10), r.n)), pool.use(async (r) => r.n)]);
  assert.equal([a, b, log.started], [1, 1, 1]);
  await sleep(10);
  assert.is(await pool.use(async (r) => r.n), 1, "still there within idleMs");
  await sleep(60);
  assert.equal(log, { started: 1, closed: 1 }, "ended after idleMs unused");
  assert.is(await pool.use(async (r) => r.n), 2, "started again");
  await pool.release();
  assert.equal(log, { started: 2, closed: 2 });
});

test("a long call keeps the resource however long it takes; a failed start is tried again on the next use", async () => {
  const { log, start } = counted(1);
  const pool = onDemand(start, 20);
  try {
    await pool.use(async () => 0);
    assert.unreachable("the first start fails");
  } catch (e) {
    assert.is((e as Error).message, "cannot start");
  }
  assert.is(await pool.use(async (r) => (await sleep(60), r.n)), 2);
  assert.is(log.closed, 0, "not ended while in use");
  await pool.release();
  assert.is(log.closed, 1);
});

test.run();
