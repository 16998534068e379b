// The minimal host of DESIGN.md (examples/minimal-host/host.mjs) is a working host: run with
// instrumented blink, its GPIO changes and log lines are the Device's, to the microsecond.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Device } from "../../host/device.js";
import { VirtualClock } from "../../host/peripherals/clock.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { preparedApps } from "../../tools/conformance.js";

const hostUrl = new URL("../../../examples/minimal-host/host.mjs", import.meta.url);
const us = (ms: number) => Math.floor(ms * 1000);

test("the minimal host drives blink exactly as the Device does", async () => {
  const { runMinimalHost } = await import(hostUrl.href);
  const blink = preparedApps().find((a) => a.dir === "examples/blink")!;
  const seen: string[] = [];
  await runMinimalHost({
    coreBytes: readFileSync(CORE_WASM_PATH), manifestBytes: blink.manifestBytes, appBytes: blink.instrumentedModule, untilMs: 2600,
    onGpio: (t: number, pin: number, level: number) => seen.push(`${us(t)} gpio ${pin}=${level}`),
    onLog: (t: number, bytes: Uint8Array) => seen.push(`${us(t)} log ${new TextDecoder().decode(bytes)}`),
  });

  const device = new Device({ clock: new VirtualClock() });
  const expected: string[] = [];
  device.events.listen((e) => {
    if (e.kind === "gpio") expected.push(`${us(e.timeMs)} gpio ${e.pin}=${e.level}`);
    if (e.kind === "log") expected.push(`${us(e.timeMs)} log ${e.text}`);
  });
  device.start(await device.installInstrumented({ origin: "blink", manifestBytes: blink.manifestBytes, loadEntryPoint: async () => blink.instrumentedModule }));
  await device.run({ untilMs: 2600 });

  assert.equal(seen.filter((l) => l.includes("gpio")).length, 7, "blink toggled at 0, 0, 500, ..., 2500 ms");
  assert.deepEqual(seen, expected);
});
