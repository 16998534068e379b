// An app of the SDK's clock and power calls (sdk/applibs.ts: time, power): it logs the device's
// UTC time, sets it to the time in its first CmdArgs word plus nothing, logs what it reads back
// and time.set's result, then, when its second word is "reboot", asks for a reboot and logs what
// power.reboot returned (only a refusal returns). tests/e2e/systime.test.ts builds it with the SDK.
import { log, time, power, args } from "@wasphere/sdk";

export function main(): i32 {
  const words = args();
  log("now " + time.nowMs().toString());
  if (words.length > 0) {
    const rc = time.set(I64.parseInt(words[0]));
    log("set " + rc.toString() + " now " + time.nowMs().toString());
  }
  if (words.length > 1 && words[1] == "reboot") log("reboot returned " + power.reboot().toString());
  return 0;
}
