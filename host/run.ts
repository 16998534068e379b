// `wasphere run`: boots a device with the given apps and prints what happens, as it happens.
// The device has no flash, no OS slots, no trusted keys and no boot loader (the apps come from
// folders, unsigned), so it takes no update feed: `--feed` is refused in one line that names
// `device boot`, which has all of those. Must not: boot anything before its options are checked.
import { Command, InvalidArgumentError, Option } from "commander";
import type { Device, DeviceConfig, InstalledApp, MemoryMap } from "./device.js";
import { appFromDirectory, AppPackageError } from "./apps/package.js";
import type { RecordedEvent } from "./events.js";
import { printable } from "./printable.js";
import { APP_FIELD_TASK, APP_FIELD_SLICES, APP_FIELD_FUEL_KILO, APP_FIELD_CPU_BUDGET_KFUEL, APP_FIELD_CPU_THROTTLED_MS } from "../assembly/abi.js";

/** A command-line option the device cannot honour (a --press pin it does not have). */
export class RunOptionError extends Error {}
import { RealClock } from "./peripherals/clock.js";
import type { RebootDecision } from "./reboot.js";

export interface RunOptions {
  seconds?: number;
  press?: { pin: number; periodMs: number }[];
  quiet?: boolean;
  /** Record the run (host/replay.ts) into this file, for `wasphere replay`. */
  record?: string;
  /** Which form of the core runs: core.wasm (default) or the component through its JS bindings. */
  core?: "module" | "component";
  /** A parts file (SPEC.md, "Parts") wiring sensors, a flash chip, ADC inputs and UART bridges to the board. */
  parts?: string;
  /** Refused (FEED_REFUSAL): taken only so the refusal can say where a feed belongs. */
  feed?: string;
  feedPoll?: string;
}

/** Why `run` takes no update feed, and what does. */
export const FEED_REFUSAL = "--feed: a run has no flash, OS slots or trusted keys for an update to go into (its apps come from folders, unsigned); "
  + "an update feed is for a device folder: wasphere device boot DEV --feed URL [--feed-poll S]";

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1).padStart(7)} KiB`;

export function formatMemoryMap(map: MemoryMap, apps: { name: string; quotaBytes: number }[] = []): string {
  const lines = [
    `memory map (${map.totalBytes / 1024} KiB, fixed):`,
    `  core static data   ${kib(map.staticBytes)}  (of which kernel tables ${kib(map.tableBytes).trim()})`,
    `  core heap in use   ${kib(map.heapInUseBytes)}  (peak ${kib(map.heapPeakBytes).trim()})`,
    ...apps.map((a) => `  app ${printable(a.name).padEnd(14).slice(0, 14)} ${kib(a.quotaBytes)}  reserved`),
    `  apps reserved      ${kib(map.appReservedBytes)}`,
    `  free               ${kib(map.freeBytes)}`,
  ];
  return lines.join("\n");
}

/** One line per event; every text that came from an app (names, log text, details) is escaped. */
export function formatEvent(e: RecordedEvent): string {
  const t = `[${(e.timeMs / 1000).toFixed(3).padStart(8)}]`;
  switch (e.kind) {
    case "gpio": return `${t} GPIO ${e.pin} -> ${e.level ? "high" : "low"}${e.source === "external" ? " (input)" : ""}`;
    case "log": return `${t} ${printable(e.app)}: ${printable(e.text)}`;
    case "app": return `${t} ${printable(e.app)}: ${e.what}${e.detail ? ` (${printable(e.detail)})` : ""}`;
    case "audit": return `${t} audit: ${printable(e.text)}`;
    case "periph": return `${t} ${printable(e.iface)}: ${printable(e.text)}`;
    case "net": return `${t} net: ${printable(e.text)}`;
  }
}

/** Boots a device, installs and starts `appDirs`, and runs until `seconds` pass or Ctrl-C. */
export async function runDevice(appDirs: string[], opts: RunOptions, out: (line: string) => void): Promise<Device> {
  if (opts.feed !== undefined || opts.feedPoll !== undefined) throw new RunOptionError(FEED_REFUSAL);
  // Loaded here, not at the top: binaryen is heavy, and `wasphere fs ...` never needs it.
  const { Device, DEFAULT_DEVICE } = await import("./device.js");
  const recorder = opts.record ? new (await import("./replay.js")).Recorder() : null;
  // The component core is loaded only when asked for: its bindings exist only where jco is installed.
  let createCore: DeviceConfig["createCore"];
  if (opts.core === "component") {
    try { createCore = await (await import("./core-component.js")).componentCoreFactory(); } catch (err) {
      throw new RunOptionError(`--core component: ${(err as Error).message}`);
    }
  }
  // Instrumented modules are kept on disk (host/apps/instrument-cache-node.ts): an app run before
  // installs without loading binaryen.
  const { nodeInstrumentCache } = await import("./apps/instrument-cache-node.js");
  const instrumentCache = nodeInstrumentCache();
  const { Board, defaultBoardSpecs } = await import("./peripherals/board.js");
  const board = new Board(defaultBoardSpecs(DEFAULT_DEVICE.gpioPinCount));
  let wired = { uartPorts: [] as { iface: string; port: number }[], lines: [] as string[] };
  if (opts.parts) {
    const { readFileSync } = await import("node:fs");
    const { wireParts } = await import("./peripherals/parts.js");
    let entries: unknown;
    try { entries = JSON.parse(readFileSync(opts.parts, "utf8")); } catch (err) { throw new RunOptionError(`--parts ${printable(opts.parts)}: cannot be read (${(err as Error).message})`); }
    try { wired = wireParts(board, entries, printable(opts.parts)); } catch (err) { throw new RunOptionError((err as Error).message); }
  }
  // A security processor with its state in memory (a fresh device key each run), so random_bytes
  // answers. Not under --record: a recording holds no processor answers to replay (its
  // random_bytes is -ENODEV, as on a host without one).
  const { openSecurityProcessor, memoryStore } = await import("./pluton/link.js");
  const securityProcessor = recorder ? undefined : (await openSecurityProcessor(memoryStore())).link;
  // Real sockets on the host, under each app's allowlist, once the network manager says networking
  // is ready. Not under --record: a recording holds no network to replay (connects are -ENODEV).
  const network = recorder ? undefined : new (await import("./net/network.js")).Network();
  for (const line of wired.lines) out(`parts: ${printable(line)}`);
  const { bridgeUarts } = await import("./device-boot.js");
  const bridges = await bridgeUarts(board, wired.uartPorts, out);
  for (const { pin } of opts.press ?? []) {
    if (pin >= DEFAULT_DEVICE.gpioPinCount) throw new RunOptionError(`--press ${pin}: GPIO ${pin} does not exist on this device (pins 0..${DEFAULT_DEVICE.gpioPinCount - 1})`);
  }
  const { InstallError } = await import("./device.js");
  const { Rtc } = await import("./rtc.js");
  const { RebootGuard, runUntilReboot, downFor } = await import("./reboot.js");
  // The device's real-time clock: the host's time, and the time an app set after a reboot.
  const rtc = new Rtc();
  const guard = new RebootGuard();

  /** One boot: a new core, the system apps, then `appDirs` installed and started. */
  const boot = async () => {
    const device = recorder
      ? new Device({ ...recorder.config({ clock: new RealClock(), instrumentCache }), createCore, board, utcMs: rtc.nowMs() })
      : new Device({ createCore, instrumentCache, board, securityProcessor, network, utcMs: rtc.nowMs() });
    recorder?.attach(device);
    out(`wasphere core ${device.coreVersion} booted${opts.core === "component" ? " (as a component)" : ""}`);
    out(formatMemoryMap(device.memoryMap()));
    // The system apps of the OS image run first, and are listed in the memory map like any app.
    const systemApps: InstalledApp[] = [];
    if (network) {
      // `wasphere run` boots no OS image: its system apps are the tree's build (DESIGN.md, "Secure boot").
      const { startNetworkManager, systemAppsFromTree } = await import("./net/system-apps.js");
      const manager = await startNetworkManager(device, systemAppsFromTree());
      out(`system app ${printable(manager.name)} started: quota ${manager.quotaBytes / 1024} KiB`);
      systemApps.push(manager);
    }
    const apps: InstalledApp[] = [];
    for (const dir of appDirs) {
      const app = await device.install(appFromDirectory(dir));
      out(`installed ${printable(app.name)} (${app.componentId}): quota ${app.quotaBytes / 1024} KiB, module ${app.originalBytes} B -> ${app.instrumentedBytes} B instrumented`);
      apps.push(app);
    }
    for (const app of apps) {
      // One app that cannot start (its module changed since install, no RAM left) stops no other.
      try { device.start(app); } catch (err) {
        if (!(err instanceof InstallError)) throw err;
        out(`wasphere run: ${err.message}`);
      }
    }
    // Only apps with a live task hold a reservation: one that exited or was given up gave it back.
    const reserving = () => [...systemApps, ...apps].filter((a) => device.core.exports.app_field(a.slot, APP_FIELD_TASK) >= 0);
    out(formatMemoryMap(device.memoryMap(), reserving()));
    return { device, apps, reserving };
  };

  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  let booted = await boot();
  // --seconds counts from the first boot's apps starting, reboots included (each boot's device
  // clock starts at 0, so the end is kept on the host's clock).
  const endWallMs = opts.seconds !== undefined ? performance.now() + opts.seconds * 1000 : Infinity;
  let { device } = booted;
  const timers = (opts.press ?? []).map(({ pin, periodMs }) =>
    setInterval(() => device.gpio.drive(pin, device.gpio.level(pin) ? 0 : 1), periodMs / 2));
  try {
    while (true) {
      const stopListening = device.events.listen((e) => {
        if (e.kind === "app" && (e.what === "installed" || e.what === "started")) return;
        if (e.kind === "gpio" && e.source === "core" && !opts.quiet) out(formatEvent(e));
        else if (e.kind !== "gpio" || !opts.quiet) out(formatEvent(e));
      });
      let decision: RebootDecision | null;
      try {
        // A reboot loop's request is refused there: the app that asked is stopped, the others run on.
        decision = await runUntilReboot(device, guard, endWallMs, out, controller.signal);
      } finally {
        stopListening();
      }
      if (decision === null) break;
      if (recorder) { out("wasphere run: a recording holds one boot; it ends here"); break; }
      // The RTC runs on from the core's clock (an app may have set it); the core's memory is gone.
      rtc.set(device.core.exports.clock_utc_ms());
      device.shutdown();
      await downFor(decision.downMs, endWallMs, controller.signal);
      if (controller.signal.aborted || performance.now() >= endWallMs) break;
      booted = await boot();
      device = booted.device;
    }
  } finally {
    for (const t of timers) clearInterval(t);
    process.removeListener("SIGINT", onSigint);
    for (const b of bridges) await b.close();
    network?.closeAll();
  }
  if (recorder && opts.record) {
    const { recordingToJson } = await import("./replay.js");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(opts.record, recordingToJson(recorder.finish()));
    out(`recorded the run to ${opts.record} (replay it with \`wasphere replay ${opts.record}\`)`);
  }
  out(`stopped after ${(device.clock.nowMs() / 1000).toFixed(1)} s; slices: ${JSON.stringify(device.sliceCounts)}`);
  for (const app of booted.apps) out(appStatusLine(device, app));
  out(formatMemoryMap(device.memoryMap(), booted.reserving()));
  return device;
}

/** One app's share of the CPU since install: slices, fuel, and its CPU budget if it has one. */
function appStatusLine(device: Device, app: InstalledApp): string {
  const f = (field: number) => device.core.exports.app_field(app.slot, field);
  const budgetK = f(APP_FIELD_CPU_BUDGET_KFUEL);
  const budget = budgetK > 0 ? `, CPU budget ${budgetK * 1000} fuel/s, held back ${f(APP_FIELD_CPU_THROTTLED_MS)} ms` : "";
  return `  ${printable(app.name)}: ${f(APP_FIELD_SLICES)} slices, ${f(APP_FIELD_FUEL_KILO)} kilo-fuel${budget}`;
}

const positiveNumber = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number of seconds");
  return n;
};

const pressSpec = (v: string, prev: { pin: number; periodMs: number }[] = []) => {
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m) throw new InvalidArgumentError("expected PIN:PERIOD_MS, e.g. 12:1500");
  return [...prev, { pin: Number(m[1]), periodMs: Number(m[2]) }];
};

export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("boot a device with the given apps (each APP_DIR holds app_manifest.json and the app's .wasm or main.ts)")
    .argument("<APP_DIR...>", "app directories to install and start, in order")
    .option("--seconds <N>", "stop after N seconds (default: run until Ctrl-C)", positiveNumber)
    .option("--press <PIN:PERIOD_MS>", "simulate a button on an input pin, pressed and released every PERIOD_MS (repeatable)", pressSpec)
    .option("--quiet", "do not print GPIO changes")
    .option("--record <FILE>", "record every input of the run into FILE, for `wasphere replay FILE` (attach it to a bug report)")
    .option("--parts <FILE>", "wire the parts FILE lists to the board (a JSON array: SHT3x, W25Q128JV, AdcInput, UartTcp; SPEC.md, \"Parts\")")
    .option("--feed <URL>", "refused: an update feed is for a device folder (wasphere device boot DEV --feed URL)")
    .option("--feed-poll <S>", "refused with --feed")
    .addOption(new Option("--core <FORM>", "the core as a plain module, or as a component through its jco bindings (`npm run component:setup`, then `npm run build`)").choices(["module", "component"]).default("module"))
    .action(async (appDirs: string[], opts: RunOptions) => {
      try {
        await runDevice(appDirs, opts, (line) => process.stdout.write(line + "\n"));
      } catch (err) {
        const { InstallError, HostError } = await import("./device.js");
        if (err instanceof InstallError || err instanceof AppPackageError || err instanceof RunOptionError || err instanceof HostError) {
          process.stderr.write(`wasphere run: ${err.message}\n`);
          process.exitCode = 1;
          return;
        }
        throw err;
      }
    });
}
