// device-offline: the `wasphere device ...` verbs on a stopped device, directly on its flash.
// Not in this build: every call is refused with a ControlError("unavailable") that says so.
// Must not: touch the flash.
import { ControlError, type DeviceControl } from "./device-control.js";
import { printable } from "./printable.js";

export async function openStoppedDevice(dir: string): Promise<DeviceControl & { close(): Promise<void> }> {
  throw new ControlError("unavailable", `${printable(dir)}: no device is running there, and the verbs on a stopped device (on its flash) are not in this build`);
}
