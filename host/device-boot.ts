// `wasphere device boot DEV`: boots a device folder from its flash (host/device-flash.ts over the
// folder's write-through flash, host/device-folder.ts), prints the boot log (each package mounted or
// refused, each app started) and the memory map with each mount's RAM, then runs until Ctrl-C or
// SIGTERM. The boot loader picks the OS slot (a staged update on trial, or the primary) and prints
// what it decided (`boot: os-b (v2) ...`), at the first boot and at every reboot. Every flash write
// reaches flash.bin before the call returns, so a SIGKILL loses nothing littlefs committed; the
// next boot brings the same apps back.
// Invariants: the device's lock is held while it runs and released on a clean stop.
// Must not: decide what is installed (the core's list does).
import * as abi from "../assembly/abi.js";
import { FlashDevice } from "./device-flash.js";
import { FolderFlash, deviceBoard, deviceCache, deviceFlashPath, deviceParts, devicePins, lockDevice } from "./device-folder.js";
import { formatEvent, formatMemoryMap } from "./run.js";
import { printable } from "./printable.js";
import { readTable } from "./flash-layout.js";
import { serveControl } from "./control/server.js";
import { UartTcpBridge } from "./peripherals/uart-tcp.js";
import { bootOs } from "./boot-loader.js";
import { openSecurityProcessor } from "./pluton/link.js";
import { fileStore } from "./pluton/store-node.js";
import type { Board } from "./peripherals/board.js";
import { folderRtc, saveFolderRtc, type Rtc } from "./rtc.js";
import { RebootGuard, runUntilReboot, downFor, type RebootDecision } from "./reboot.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A loopback TCP port for each UART parts.json bridges; each says where it listens. */
export async function bridgeUarts(board: Board, ports: { iface: string; port: number }[], out: (line: string) => void): Promise<UartTcpBridge[]> {
  const bridges: UartTcpBridge[] = [];
  for (const { iface, port } of ports) {
    const bridge = new UartTcpBridge(board.uart(iface));
    const got = await bridge.listen(port);
    bridges.push(bridge);
    out(`parts: ${printable(iface)}: UART on 127.0.0.1:${got} (nc 127.0.0.1 ${got})`);
  }
  return bridges;
}

export interface BootCliOptions {
  seconds?: number; press?: { pin: number; periodMs: number }[]; quiet?: boolean;
  /** The update feed's URL (the update agent is started only with one) and its poll period in seconds. */
  feed?: string; feedPoll?: number;
}

/** Boots `dir`; resolves when it stopped (the signal, or `seconds`). A reboot request boots it again (host/reboot.ts). */
export async function bootDevice(dir: string, opts: BootCliOptions, out: (line: string) => void, signal?: AbortSignal): Promise<FlashDevice> {
  const release = lockDevice(dir);
  const flash = new FolderFlash(deviceFlashPath(dir));
  try {
    let startMs = performance.now();
    // The hardware carries over a reboot: the board and its parts, the network, the RTC.
    const board = deviceBoard(dir);
    const parts = deviceParts(dir, board);
    // Real sockets on the host, reached only through the network manager's status and each app's allowlist.
    const { Network } = await import("./net/network.js");
    const network = new Network();
    // The device's real-time clock (DEV/rtc.json): where the core's UTC clock starts at each boot.
    const { rtc, note } = folderRtc(dir);
    let rtcNote = note;
    const guard = new RebootGuard();
    // --seconds counts from the first boot's run, reboots included (each boot's device clock
    // starts at 0, so the end is kept on the host's clock); set when that run starts.
    let endWallMs = Infinity;
    let bridges: UartTcpBridge[] | null = null;
    let dev: FlashDevice;
    try {
      while (true) {
        // The boot loader (host/boot-loader.ts): the device's security processor keeps its key,
        // counters and trusted roots in DEV/pluton.json (mode 0600), and each power-on opens it anew;
        // the slot booted is the boot state's (a PENDING update on trial, confirmed only once the core
        // is instantiated and the system apps started; else the primary, in the same boot). A trial
        // that fails leaves the hardware to the next attempt with its sockets closed.
        const os = await bootOs(flash, async () => (await openSecurityProcessor(fileStore(dir))).link, async (core, link) => {
          try {
            return await FlashDevice.boot(flash, { startApps: true, gpioPinCount: devicePins(dir), board, instrumentCache: deviceCache(dir), securityProcessor: link, coreModule: core.module, systemApps: core.systemApps, network, networkManager: true, utcMs: rtc.nowMs(),
              ...(opts.feed ? { updateAgent: { feedUrl: opts.feed, pollSeconds: opts.feedPoll } } : {}) });
          } catch (err) {
            network.closeAll();
            throw err;
          }
        });
        dev = os.booted;
        const device = dev.device;
        out(`wasphere core ${device.coreVersion} booted from ${printable(dir)} in ${(performance.now() - startMs).toFixed(0)} ms`);
        if (bridges === null) {
          for (const line of parts.lines) out(`parts: ${printable(line)}`);
          bridges = await bridgeUarts(board, parts.uartPorts, out);
        }
        out(`secure boot: ${os.core.slot}: core image version ${os.core.image.version}, signed by key ${hex(os.core.image.keyId)}, verified (measurement ${hex(os.core.digest)})`);
        for (const line of os.lines) out(`boot: ${line}`);
        // Said at the first boot only: the RTC is the host's from then on.
        if (rtcNote) { out(`boot: rtc: ${rtcNote}`); rtcNote = null; }
        for (const line of dev.bootReport.lines) out(`boot: ${line}`);
        const running = device.installedApps().filter((a) => device.core.exports.app_field(a.slot, abi.APP_FIELD_TASK) >= 0);
        out(formatMemoryMap(device.memoryMap(), running));
        for (const x of dev.entries().filter((y) => y.mount >= 0)) {
          out(`  mount ${String(x.mount).padStart(2)} (package ${x.componentId})  ${device.core.exports.fs_mount_ram_bytes(x.mount)} B of core RAM`);
        }
        out(`  mount  0 (data partition)  ${device.core.exports.fs_mount_ram_bytes(0)} B of core RAM`);
        for (const { pin } of opts.press ?? []) {
          if (pin >= device.gpio.pinCount) throw new Error(`--press ${pin}: GPIO ${pin} does not exist on this device`);
        }
        // The verbs of `wasphere device` reach the running device here (SPEC.md, "Control endpoint"); a
        // deploy is bounded by the apps partition, as the core bounds it.
        const apps = readTable(flash).find((p) => p.type === abi.PART_APPS);
        const control = await serveControl(dir, dev, { maxPackageBytes: Math.min(apps?.sizeBytes ?? 0, abi.PKG_MAX_BYTES) });
        out(`control endpoint: ${printable(control.address)}`);
        const timers = (opts.press ?? []).map(({ pin, periodMs }) => setInterval(() => device.gpio.drive(pin, device.gpio.level(pin) ? 0 : 1), periodMs / 2));
        const stopListening = device.events.listen((e) => {
          // An app set the clock: the RTC takes it, and the folder keeps it for the next boot.
          if (e.kind === "audit" && e.entry?.kind === abi.EV_TIME_SET) keepClock(dir, rtc, device.core.exports.clock_utc_ms(), out);
          if (e.kind === "app" && (e.what === "installed" || e.what === "started")) return;
          if (e.kind !== "gpio" || !opts.quiet) out(formatEvent(e));
        });
        let decision: RebootDecision | null;
        if (opts.seconds !== undefined && endWallMs === Infinity) endWallMs = performance.now() + opts.seconds * 1000;
        try {
          decision = await runUntilReboot(device, guard, endWallMs, out, signal);
        } finally {
          for (const t of timers) clearInterval(t);
          stopListening();
          await control.close();
        }
        if (decision === null) break;
        keepClock(dir, rtc, device.core.exports.clock_utc_ms(), out);
        device.shutdown();
        await downFor(decision.downMs, endWallMs, signal);
        if (signal?.aborted || performance.now() >= endWallMs) break;
        startMs = performance.now();
      }
    } finally {
      for (const b of bridges ?? []) await b.close();
      network.closeAll();
    }
    out(`stopped after ${(dev.device.clock.nowMs() / 1000).toFixed(1)} s`);
    return dev;
  } finally {
    flash.close();
    release();
  }
}

/** The RTC reads `utcMs` from now on, and DEV/rtc.json says so (a failure to write it is one line). */
function keepClock(dir: string, rtc: Rtc, utcMs: number, out: (line: string) => void): void {
  rtc.set(utcMs);
  try { saveFolderRtc(dir, rtc); } catch (err) { out(`device: the clock could not be kept in ${printable(dir)} (${printable((err as Error).message)})`); }
}
