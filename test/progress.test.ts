import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatSeconds, progress } from "../lib/progress";

function capture(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: Object.assign({ write: (s: string) => out.push(s) > 0, isTTY }) as unknown as NodeJS.WritableStream };
}

test("quiet for short work", () => {
  const { out, stream } = capture(false);
  let t = 0;
  const p = progress("embedding", 10, { stream, now: () => t });
  for (let i = 0; i < 10; i++) (t += 100), p.tick();
  p.done();
  assert.equal(out, []);
});

test("plain sparse lines when not a terminal, with ETA and a final line", () => {
  const { out, stream } = capture(false);
  let t = 0;
  const p = progress("embedding", 100, { stream, now: () => t });
  for (let i = 0; i < 100; i++) (t += 500), p.tick();
  p.done();
  assert.ok(out.length >= 4 && out.length <= 7, String(out.length));
  assert.match(out[0], /^embedding \d+\/100 \(\d+%\) 2\.0\/s, ETA /);
  assert.is(out[out.length - 1], "embedding 100/100 (100%) 2.0/s done in 50s\n");
});

test("a redrawn bar on a terminal", () => {
  const { out, stream } = capture(true);
  let t = 0;
  const p = progress("searching", 4, { stream, now: () => t });
  for (let i = 0; i < 4; i++) (t += 1000), p.tick();
  p.done();
  assert.match(out[0], /^\r\x1b\[K█+░* searching 2\/4 \(50%\) 1\.0\/s ETA 2\.0s$/);
  assert.match(out[out.length - 1], /searching 4\/4 \(100%\) 1\.0\/s in 4\.0s\n$/);
});

test("durations read well", () => {
  assert.equal([formatSeconds(3.21), formatSeconds(42), formatSeconds(59.7), formatSeconds(119.6), formatSeconds(125), formatSeconds(7300), formatSeconds(Infinity)], ["3.2s", "42s", "1m00s", "2m00s", "2m05s", "2h01m", "?"]);
});

test.run();
