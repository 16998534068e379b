// The bench's own arithmetic and plumbing, never its timings: percentiles by nearest rank, goals
// read as data and judged on the right figure, and a group run in a child process that reports the
// flags it ran under.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { formatRows, goalText, percentile, readGoals, type Row } from "../../tools/bench.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

test("percentiles are nearest-rank over the sorted samples", () => {
  const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
  assert.equal(percentile(xs, 50), 5);
  assert.equal(percentile(xs, 99), 10);
  assert.equal(percentile(xs, 10), 1);
  assert.equal(percentile([42], 99), 42);
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(percentile(hundred, 99), 99);
  assert.equal(percentile(hundred, 50), 50);
});

test("a goal is judged on the figure it names: ratio, median or p99", () => {
  const goals = { a: { max: 2, of: "ratio" as const, from: "t" }, b: { max: 100, of: "median" as const, unit: "ms", from: "t" }, c: { max: 1000, of: "p99" as const, unit: "ns", from: "t" } };
  const base: Row = { name: "x", unit: "ms", median: 50, min: 1, max: 200, floor: 10, ratio: 5, p50: 50, p99: 900 };
  assert.equal(goalText({ ...base, id: "a" }, goals), "  goal ratio <= x2: NOT met");
  assert.equal(goalText({ ...base, id: "b" }, goals), "  goal median <= 100 ms: met");
  assert.equal(goalText({ ...base, id: "c" }, goals), "  goal p99 <= 1000 ns: met");
  assert.equal(goalText({ ...base, id: "c", p99: 1001 }, goals), "  goal p99 <= 1000 ns: NOT met");
  assert.equal(goalText({ ...base, id: "none" }, goals), "");
  assert.match(formatRows([{ ...base, id: "a", group: "g", flags: [] }], goals), /-- g: node \(no command-line flags; --always-sparkplug set at start, as wasphere run\) --\nx .* p50 50\.0 p99 900 {2}x5\.00 vs 10\.0 {2}goal ratio <= x2: NOT met/);
});

test("every goal in tools/bench-goals.json names a figure and a limit", () => {
  const goals = readGoals();
  assert.ok(Object.keys(goals).length >= 10);
  for (const [id, g] of Object.entries(goals)) {
    assert.ok(["ratio", "median", "p99"].includes(g.of), id);
    assert.ok(typeof g.max === "number" && g.max > 0, id);
    assert.ok(g.from.length > 0, id);
  }
});

test("a group runs in its own process and its rows say under which flags", () => {
  const r = spawnSync(process.execPath, ["dist/tools/bench.js", "--json", "--group", "boot"], { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Row[];
  assert.deepEqual(rows.map((x) => [x.id, x.group, x.flags]), [["boot", "boot", []]]);
  assert.ok(rows[0].floor! > 0 && rows[0].ratio! > 0);
  const bad = spawnSync(process.execPath, ["dist/tools/bench.js", "--group", "nope"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^bench: no group nope \(groups: syscall, switch, /);
});
