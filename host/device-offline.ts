// device-offline: the `wasphere device` verbs directly on a stopped device's flash (a device
// folder no process has booted): a core booted over the folder's flash with no app running answers
// them, so every decision is the same core's as on a running device (host/device-flash.ts).
// Invariants: refuses a device that is running (its lock is held by a live process); the lock is
// held until close().
// Memory: the flash image and one core. Must not: start an app.
import { FlashDevice } from "./device-flash.js";
import { FolderFlash, deviceBoard, deviceCache, deviceFlashPath, devicePins, lockDevice } from "./device-folder.js";
import type { DeviceControl } from "./device-control.js";
import { secureBootFolder } from "./secure-device.js";

export async function openStoppedDevice(dir: string): Promise<DeviceControl & { close(): Promise<void>; readonly flashDevice: FlashDevice }> {
  const release = lockDevice(dir);
  let flash: FolderFlash | null = null;
  try {
    flash = new FolderFlash(deviceFlashPath(dir));
    // The same secure boot as `device boot`: the verified core decides, and checks every package
    // through the device's security processor.
    const { securityProcessor, coreModule } = await secureBootFolder(dir, flash);
    const dev = await FlashDevice.boot(flash, { startApps: false, gpioPinCount: devicePins(dir), board: deviceBoard(dir), instrumentCache: deviceCache(dir), securityProcessor, coreModule });
    const f = flash;
    return {
      flashDevice: dev,
      listInstalled: () => dev.listInstalled(),
      deploy: (bytes) => dev.deploy(bytes),
      remove: (id) => dev.remove(id),
      start: (id) => dev.start(id),
      stop: (id) => dev.stop(id),
      status: (id) => dev.status(id),
      quota: (id) => dev.quota(id),
      memoryStats: (id) => dev.memoryStats(id),
      close: async () => { f.close(); release(); },
    };
  } catch (err) {
    flash?.close();
    release();
    throw err;
  }
}
