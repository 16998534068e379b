// The two Core implementations cross the WIT boundary identically, call for call: a run recorded on
// the core module (ModuleCore) replays without a divergence on the component (ComponentCore), and
// one recorded on the component replays on the module. Every hal call with its arguments and
// result, every export with its result, every clock reading is compared (host/replay.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Device, type DeviceConfig } from "../../host/device.js";
import { VirtualClock } from "../../host/peripherals/clock.js";
import { Recorder, recordingFromJson, recordingToJson, replay, type Recording } from "../../host/replay.js";
import { runBlinkAndButton } from "../e2e/support.js";
import { componentPresent } from "./component-support.js";

async function record(createCore?: DeviceConfig["createCore"]): Promise<Recording> {
  const recorder = new Recorder();
  const dev = new Device({ ...recorder.config({ clock: new VirtualClock() }), createCore });
  recorder.attach(dev);
  await runBlinkAndButton(dev);
  return recordingFromJson(recordingToJson(recorder.finish()));
}

test("a run recorded on the module core replays exactly on the component core, and back", async (t) => {
  if (!componentPresent(t)) return;
  const { componentCoreFactory } = await import("../../host/core-component.js");
  const createCore = await componentCoreFactory();
  const onModule = await record();
  assert.ok(onModule.crossings.some((c) => c[0] === "hal" && c[1] === "app_copy_in"), "the run copies app memory in");
  const onComponent = await replay(onModule, { createCore });
  assert.equal(onComponent.divergence, null);
  assert.equal(onComponent.crossings, onModule.crossings.length);
  assert.equal(onComponent.traceEvents, onModule.trace.length);

  const recordedOnComponent = await record(createCore);
  assert.deepEqual(recordedOnComponent.crossings, onModule.crossings, "the same crossings, in the same order");
  const onModuleAgain = await replay(recordedOnComponent);
  assert.equal(onModuleAgain.divergence, null);
});
