// The dashboard page's script (build/dashboard/dashboard.mjs): boots a wasphere device inside the
// page on a real clock, with the core (core.wasm) and the apps listed in apps.json, all
// instrumented ahead of time (so the page never loads binaryen), and shows it live: the board (an
// LED per output pin, a button per input pin), the app list, the core's memory map and the log.
// tools/dashboard.ts bundles it with esbuild; `../host/bundle.js` stays the separate host bundle
// (./wasphere-host.mjs).
// Invariants: every text that came from an app (its name, its log lines, the core's messages about
// it) reaches the page through `printable` and `textContent`, never as markup; a click on an input
// pin is an external GPIO change through the Device (the core wakes its waiters), nothing else;
// the page only reads the device (Device's public API) to draw it.
// Figures for tests and for the person watching: `window.wasphere` holds the device and the boot
// times (ms since navigation start, performance.now) of core compiled, apps started, first LED lit.
// Must not: use innerHTML/insertAdjacentHTML with anything, fetch from anywhere but its own origin.
import { Device, InstallError, RealClock, printable, type InstalledApp } from "../host/bundle.js";
import * as abi from "../assembly/abi.js";

interface AppEntry { dir: string; manifest: string; module: string | null }
interface Figures { coreReadyMs?: number; appsStartedMs?: number; firstLedOnMs?: number; firstLedPin?: number }

/** The most log lines the page keeps (older ones are dropped from the page, not from the device). */
const LOG_LINES_MAX = 400;
const REFRESH_MS = 100;

const $ = (id: string) => document.getElementById(id)!;
const figures: Figures = {};
const page = { device: null as Device | null, figures, apps: [] as InstalledApp[], error: "" };
(globalThis as unknown as { wasphere: typeof page }).wasphere = page;

const STATE_NAMES = Object.fromEntries(Object.entries(abi).filter(([k]) => k.startsWith("TASK_")).map(([k, v]) => [v as number, k.slice(5).toLowerCase()]));

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

function setStatus(text: string, state: string): void {
  const s = $("status");
  s.textContent = text;
  s.dataset.state = state;
}

function appendLog(kind: string, timeMs: number, text: string): void {
  const list = $("log");
  const li = el("li", "", `[${(timeMs / 1000).toFixed(3).padStart(9)}] ${printable(text)}`);
  li.dataset.kind = kind;
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(li);
  while (list.childElementCount > LOG_LINES_MAX) list.firstElementChild!.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

async function fetchBytes(path: string): Promise<Uint8Array> {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

// The board: one element per configured pin, made when a pin is first configured and then updated.
const pinElements = new Map<number, HTMLElement>();

function pinElement(device: Device, pin: number): HTMLElement {
  const direction = device.gpio.direction(pin) === abi.GPIO_DIR_OUTPUT ? "output" : "input";
  let e = pinElements.get(pin);
  if (e && e.dataset.dir === direction) return e;
  const fresh = el("div", "pin");
  fresh.dataset.pin = String(pin);
  fresh.dataset.dir = direction;
  if (direction === "output") {
    fresh.append(el("div", "led"), el("span", "", `LED ${pin}`));
  } else {
    const button = el("button", "", "press");
    button.title = `GPIO ${pin}: toggles the input level`;
    button.addEventListener("click", () => device.gpio.drive(pin, device.gpio.level(pin) ? 0 : 1));
    fresh.append(button, el("span", "", `GPIO ${pin}`));
  }
  if (e) e.replaceWith(fresh);
  else insertPin(fresh, pin);
  pinElements.set(pin, fresh);
  e = fresh;
  return e;
}

function insertPin(e: HTMLElement, pin: number): void {
  const board = $("board");
  const after = Array.from(board.children).find((c) => Number((c as HTMLElement).dataset.pin) > pin);
  board.insertBefore(e, after ?? null);
}

function drawPin(device: Device, pin: number): void {
  if (device.gpio.direction(pin) < 0) return;
  const e = pinElement(device, pin);
  e.dataset.level = String(device.gpio.level(pin));
}

function drawBoard(device: Device): void {
  for (let pin = 0; pin < device.gpio.pinCount; pin++) drawPin(device, pin);
}

function bar(usedBytes: number, peakBytes: number, quotaBytes: number): HTMLElement {
  const b = el("span", "bar");
  const used = el("span", "used");
  used.style.width = `${Math.min(100, (100 * usedBytes) / quotaBytes)}%`;
  const peak = el("span", "peak");
  peak.style.left = `${Math.min(100, (100 * peakBytes) / quotaBytes)}%`;
  b.append(used, peak);
  return b;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(bytes % 1024 ? 1 : 0)} KiB`;

function drawApps(device: Device, apps: InstalledApp[]): void {
  const body = $("apps").querySelector("tbody")!;
  const rows = apps.map((app) => {
    const s = device.appStatus(app);
    const tr = el("tr");
    tr.dataset.slot = String(app.slot);
    tr.dataset.state = STATE_NAMES[s.state] ?? String(s.state);
    const mem = el("td");
    mem.append(bar(s.memoryBytes, s.memPeakBytes, s.quotaBytes), el("span", "", ` ${kib(s.memoryBytes)} / ${kib(s.quotaBytes)} (peak ${kib(s.memPeakBytes)})`));
    tr.append(el("td", "name", printable(app.name)), el("td", "", tr.dataset.state), el("td", "", String(s.crashes)), el("td", "", String(s.restarts)), el("td", "", String(s.slices)), mem);
    return tr;
  });
  body.replaceChildren(...rows);
}

function drawMemory(device: Device): void {
  const m = device.memoryMap();
  const heapInUse = Math.min(m.heapInUseBytes, m.heapSpanBytes);
  const segments: [string, string, number][] = [
    ["seg-static", "static data", m.staticBytes],
    ["seg-tables", "tables", m.tableBytes],
    ["seg-heap", "heap in use", heapInUse],
    ["seg-heap-span", `heap span not in use (heap peak ${kib(m.heapPeakBytes)})`, Math.max(0, m.heapSpanBytes - heapInUse)],
    ["seg-apps", "reserved for apps", m.appReservedBytes],
  ];
  const accounted = segments.reduce((n, s) => n + s[2], 0) + m.freeBytes;
  if (accounted < m.totalBytes) segments.push(["seg-other", "other", m.totalBytes - accounted]);
  segments.push(["seg-free", "free", m.freeBytes]);
  const map = $("memory-map");
  map.dataset.totalBytes = String(m.totalBytes);
  map.replaceChildren(...segments.map(([cls, label, bytes]) => {
    const d = el("div", cls);
    d.style.width = `${(100 * bytes) / m.totalBytes}%`;
    d.title = `${label}: ${kib(bytes)}`;
    d.dataset.bytes = String(bytes);
    return d;
  }));
  $("memory-legend").replaceChildren(...segments.map(([cls, label, bytes]) => {
    const li = el("li");
    li.append(el("span", `swatch ${cls}`), el("span", "", `${label}: ${kib(bytes)}`));
    return li;
  }));
}

async function boot(): Promise<void> {
  const coreBytes = await fetchBytes("core.wasm");
  const coreModule = await WebAssembly.compile(coreBytes as Uint8Array<ArrayBuffer>);
  const entries: AppEntry[] = JSON.parse(new TextDecoder().decode(await fetchBytes("apps.json")));
  const device = new Device({ coreModule, clock: new RealClock() });
  page.device = device;
  figures.coreReadyMs = performance.now();
  device.gpio.observe((pin, level, source) => {
    if (figures.firstLedOnMs === undefined && source === "core" && level === 1) {
      figures.firstLedOnMs = performance.now();
      figures.firstLedPin = pin;
    }
    drawPin(device, pin);
  });
  device.events.listen((e) => {
    if (e.kind === "log") appendLog("log", e.timeMs, `${e.app}: ${e.text}`);
    else if (e.kind === "audit") appendLog("audit", e.timeMs, `audit: ${e.text}`);
    else if (e.kind === "app" && e.what !== "installed" && e.what !== "started") appendLog("app", e.timeMs, `${e.app}: ${e.what}${e.detail ? ` (${e.detail})` : ""}`);
  });
  for (const entry of entries) {
    const manifestBytes = await fetchBytes(entry.manifest);
    const moduleBytes = entry.module ? await fetchBytes(entry.module) : new Uint8Array(0);
    try {
      page.apps.push(await device.installInstrumented({ origin: entry.dir, manifestBytes, loadEntryPoint: async () => moduleBytes }));
    } catch (err) {
      if (!(err instanceof InstallError)) throw err;
      appendLog("app", device.clock.nowMs(), `install refused: ${err.message}`);
    }
  }
  for (const app of page.apps) {
    try {
      device.start(app);
    } catch (err) {
      if (!(err instanceof InstallError)) throw err;
      appendLog("app", device.clock.nowMs(), err.message);
    }
  }
  figures.appsStartedMs = performance.now();
  setStatus(`core ${device.coreVersion}: ${page.apps.length} app(s) running`, "running");
  const refresh = () => { drawBoard(device); drawApps(device, page.apps); drawMemory(device); };
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  try {
    await device.run();
  } finally {
    clearInterval(timer);
    refresh();
  }
  const reboot = device.rebootRequest;
  // The dashboard does not boot a second device in the page: it says who asked, and a reload boots again.
  if (reboot) device.shutdown();
  if (reboot) setStatus(`the device went down for a reboot${reboot.appName !== null ? ` requested by '${printable(reboot.appName)}'` : ""}: reload the page to boot it again`, "stopped");
  else setStatus("the device stopped: no app will ever be ready again", "stopped");
}

boot().catch((err: unknown) => {
  page.error = printable(err instanceof Error ? err.message : String(err));
  setStatus(`the device failed: ${page.error}`, "failed");
});
