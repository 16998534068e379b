// Fuzz target `manifest`: app_manifest.json bytes through the core's own exports (app_install).
//
// Inputs come three ways: structure-aware edits of real manifests (a field's value replaced by an
// edge case of any JSON type, fields dropped, duplicated, unknown or reordered, strings written
// with \u escapes, odd whitespace), byte-level edits of such a text, and random JSON documents
// (deep nesting included). Properties checked on every case:
// - the core never traps or panics, and answers a slot or -EINVAL/-ENODEV;
// - it accepts nothing that is not JSON (JSON.parse over strict UTF-8 is the independent
//   reference), and what it accepts reads back as JSON.parse reads it (Name, ComponentId,
//   EntryPoint, the quota);
// - a refusal leaves one printable line that names the problem;
// - uninstalling gives back every byte of core heap the install took.
// Memory: one core instance per process, reused (each case uninstalls what it installed).
import * as abi from "../assembly/abi.js";
import { ModuleCore, type Core } from "../host/core.js";
import { FuzzFailure, mutateBytes, type FuzzTarget, type Prng } from "./fuzz-lib.js";

const GPIO_PINS = 96;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Manifests the parser must accept, the starting points of structure-aware edits. */
const BASES: Record<string, unknown>[] = [
  { SchemaVersion: 1, Name: "blink", ComponentId: "1689d8b2-c835-2e27-27ad-e894d6d15fa9", EntryPoint: "blink.wasm", CmdArgs: [], Capabilities: { Gpio: [8] }, MemoryQuotaKiB: 128, ApplicationType: "Default" },
  { SchemaVersion: 1, Name: "button", ComponentId: "3b1f5e2a-7c44-4d8e-9a61-0f2d8c7b5e13", EntryPoint: "button.wasm", CmdArgs: [], Capabilities: { Gpio: [9, 12] } },
  { SchemaVersion: 1, Name: "sensor-hub", ComponentId: "{00000000-0000-0000-0000-00000000000A}", EntryPoint: "bin/app.wasm", CmdArgs: ["--rate", "10", "ü"], Capabilities: { Gpio: [0, 1, 95], Uart: ["ISU0"], MutableStorage: { SizeKB: 8 } }, MemoryQuotaKiB: 64, Priority: 7, ApplicationType: "Default" },
  { SchemaVersion: 1, Name: "n", ComponentId: "ffffffff-ffff-ffff-ffff-ffffffffffff", EntryPoint: "a/b/c.wasm" },
];

const FIELD_NAMES = ["SchemaVersion", "Name", "ComponentId", "EntryPoint", "CmdArgs", "Capabilities", "MemoryQuotaKiB", "Priority", "ApplicationType",
  "Gpio", "Uart", "I2cMaster", "SpiMaster", "Adc", "Pwm", "AllowedConnections", "AllowedApplicationConnections", "MutableStorage", "SizeKB"];

function edgeNumber(rng: Prng): number | string {
  // Strings here are raw number texts JSON.stringify cannot produce.
  return rng.pick<number | string>([0, -0, 1, -1, 7, 8, 63, 64, 65, 95, 96, 128, 255, 256, 1024, 65536, 262144, 1048576, 1048577,
    2 ** 31 - 1, 2 ** 31, 2 ** 32, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, 2 ** 53 + 2, 1.5, 64.0000001, 1e-7,
    "1e2", "64e0", "6.4e1", "1E309", "-1e309", "0.0", "00", "-", "1.", ".5", "+1", "0x40", "1e", "9".repeat(400), "1" + "0".repeat(30)]);
}

function edgeString(rng: Prng): string {
  const pieces = ["", "a", "blink", "ü", "\u0000", "\n", "\u001b[2J", "\u007f", "\ud800", "\udc00", "\ud83d\ude00", "\"", "\\", "/", "..", "../x.wasm", "/abs.wasm",
    "a//b.wasm", "x.wasm", ".wasm", "a.WASM", "a\\b.wasm", "Default", "1689d8b2-c835-2e27-27ad-e894d6d15fa9", "{1689d8b2-c835-2e27-27ad-e894d6d15fa9}",
    "1689d8b2c8352e2727ade894d6d15fa9", "1689d8b2-c835-2e27-27ad-e894d6d15fa", "gggggggg-c835-2e27-27ad-e894d6d15fa9", "\u2028", "\ufeff"];
  let s = "";
  for (let n = rng.range(1, 3); n > 0; n--) s += rng.pick(pieces);
  if (rng.chance(0.1)) s = s.repeat(rng.range(2, 200));
  return s;
}

type Json = null | boolean | number | string | { raw: string } | Json[] | { [k: string]: Json };

function randomValue(rng: Prng, depth: number): Json {
  switch (rng.below(depth > 4 ? 5 : 8)) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: { const n = edgeNumber(rng); return typeof n === "string" ? { raw: n } : n; }
    case 3: case 4: return edgeString(rng);
    case 5: return Array.from({ length: rng.below(5) }, () => randomValue(rng, depth + 1));
    case 6: return Object.fromEntries(Array.from({ length: rng.below(4) }, () => [rng.pick(FIELD_NAMES), randomValue(rng, depth + 1)]));
    default: return Array.from({ length: rng.below(4) }, () => rng.range(-2, 100));
  }
}

/** Every (container, key) in the tree, for picking an edit site. */
function sites(v: Json, out: { parent: Record<string, Json> | Json[]; key: string | number }[] = []): typeof out {
  if (Array.isArray(v)) v.forEach((c, i) => { out.push({ parent: v, key: i }); sites(c, out); });
  else if (v && typeof v === "object" && !("raw" in v)) for (const k of Object.keys(v)) { out.push({ parent: v, key: k }); sites((v as Record<string, Json>)[k], out); }
  return out;
}

function editTree(rng: Prng, root: Record<string, Json>): void {
  const all = sites(root);
  const site = rng.pick(all);
  const parent = site.parent as Record<string | number, Json>;
  switch (rng.below(5)) {
    case 0: parent[site.key] = randomValue(rng, 1); break;
    case 1: if (Array.isArray(parent)) parent.splice(site.key as number, 1); else delete parent[site.key]; break;
    case 2: if (Array.isArray(parent)) parent.push(randomValue(rng, 2)); else parent[rng.pick(FIELD_NAMES)] = randomValue(rng, 1); break;
    case 3: { const v = parent[site.key]; if (typeof v === "string") parent[site.key] = v + edgeString(rng); else parent[site.key] = edgeString(rng); break; }
    default: { const v = parent[site.key]; parent[site.key] = typeof v === "number" ? (edgeNumber(rng) as number) : randomValue(rng, 2); break; }
  }
}

/** JSON text with the writer's freedoms used at random: escapes, whitespace, duplicate members. */
function serialize(rng: Prng, v: Json, depth = 0): string {
  const ws = () => (rng.chance(0.1) ? rng.pick([" ", "\n", "\t", "\r\n", "  "]) : "");
  if (v === null || typeof v === "boolean") return String(v);
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "string") return quote(rng, v);
  if ("raw" in (v as object) && !Array.isArray(v)) return (v as { raw: string }).raw;
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => serialize(rng, x, depth + 1)).join(`${ws()},${ws()}`)}${ws()}]`;
  const members = Object.entries(v as Record<string, Json>);
  if (rng.chance(0.05) && members.length > 0) members.push(rng.pick(members)); // a duplicate member
  if (rng.chance(0.1)) members.reverse();
  return `{${ws()}${members.map(([k, x]) => `${quote(rng, k)}${ws()}:${ws()}${serialize(rng, x, depth + 1)}`).join(`${ws()},${ws()}`)}${ws()}}`;
}

function quote(rng: Prng, s: string): string {
  if (!rng.chance(0.2)) return JSON.stringify(s);
  let out = "\"";
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === "\"" || ch === "\\" || code < 0x20 || rng.chance(0.3)) {
      const units = code > 0xffff ? [0xd800 + ((code - 0x10000) >> 10), 0xdc00 + ((code - 0x10000) & 0x3ff)] : [code];
      for (const u of units) out += "\\u" + u.toString(16).padStart(4, "0")[rng.chance(0.5) ? "toUpperCase" : "toLowerCase"]();
    } else if (ch === "/" && rng.chance(0.5)) out += "\\/";
    else out += ch;
  }
  return out + "\"";
}

function deepDocument(rng: Prng): string {
  const depth = rng.range(2, 4000);
  const open = rng.chance(0.5) ? "[" : "{\"CmdArgs\":";
  const close = open === "[" ? "]" : "}";
  const inner = open.repeat(depth) + rng.pick(["1", "\"x\"", "", "{}"]) + (rng.chance(0.7) ? close.repeat(depth) : "");
  return rng.chance(0.5) ? inner : `{"SchemaVersion":1,"CmdArgs":${inner}}`;
}

export const manifestTarget: FuzzTarget = {
  name: "manifest",
  summary: "app_manifest.json through the core's app_install: no trap, JSON.parse agrees, refusals are one printable line, no heap leak",
  hangMs: 2000,

  generate(rng: Prng): Uint8Array {
    let bytes: Uint8Array;
    const how = rng.below(10);
    if (how === 0) bytes = utf8.encode(deepDocument(rng));
    else if (how === 1) bytes = utf8.encode(serialize(rng, randomValue(rng, 0)));
    else {
      const tree = structuredClone(rng.pick(BASES)) as Record<string, Json>;
      // how 2-3: only the writer's freedoms (mostly valid manifests); 4-5: structural edits.
      for (let n = how < 4 ? 0 : rng.range(how < 6 ? 1 : 0, 4); n > 0; n--) editTree(rng, tree);
      bytes = utf8.encode(serialize(rng, tree));
      if (rng.chance(0.05)) bytes = Uint8Array.from([0xef, 0xbb, 0xbf, ...bytes]);
    }
    if (how >= 6) for (let n = rng.range(1, 8); n > 0; n--) bytes = mutateBytes(rng, bytes, abi.MANIFEST_MAX_BYTES);
    return bytes.subarray(0, abi.MANIFEST_MAX_BYTES);
  },

  execute(input: Uint8Array): void {
    const core = sharedCore();
    const e = core.exports;
    const heapBefore = e.mem_heap_in_use_bytes();
    let slot: number;
    try {
      slot = e.app_install(input);
    } catch (err) {
      sharedCoreLost();
      throw new FuzzFailure(`the core trapped on app_install: ${(err as Error).message}`);
    }
    const reference = referenceParse(input);
    if (slot < 0) {
      if (slot !== -abi.EINVAL && slot !== -abi.ENODEV) throw new FuzzFailure(`app_install answered ${slot}, which is neither a slot nor -EINVAL/-ENODEV`);
      const message = core.lastError();
      if (message.length === 0) throw new FuzzFailure("a refusal left no error message");
      if (/[\u0000-\u001f\u007f]/.test(message)) throw new FuzzFailure(`the refusal message holds a control character: ${JSON.stringify(message)}`);
    } else {
      try {
        if (reference.error) throw new FuzzFailure(`the core accepted a manifest that is not JSON (${reference.error})`);
        const m = reference.value as Record<string, unknown>;
        expectString(core, slot, abi.APP_STRING_NAME, m.Name, "Name");
        expectString(core, slot, abi.APP_STRING_ENTRY_POINT, m.EntryPoint, "EntryPoint");
        const id = appString(core, slot, abi.APP_STRING_COMPONENT_ID);
        const wantId = String(m.ComponentId).replace(/^\{(.*)\}$/, "$1").toLowerCase();
        if (id.toLowerCase() !== wantId) throw new FuzzFailure(`ComponentId reads back as ${JSON.stringify(id)}; JSON.parse reads ${JSON.stringify(m.ComponentId)}`);
        const quota = e.app_field(slot, abi.APP_FIELD_QUOTA_BYTES);
        const wantQuota = m.MemoryQuotaKiB === undefined ? abi.DEFAULT_APP_QUOTA_BYTES : Number(m.MemoryQuotaKiB) * 1024;
        if (quota !== wantQuota) throw new FuzzFailure(`the quota reads back as ${quota} bytes; the manifest asks for ${wantQuota}`);
      } finally {
        const rc = e.app_uninstall(slot);
        if (rc < 0) throw new FuzzFailure(`app_uninstall(${slot}) failed with ${rc}`);
      }
    }
    const heapAfter = e.mem_heap_in_use_bytes();
    if (heapAfter !== heapBefore) throw new FuzzFailure(`core heap in use went from ${heapBefore} to ${heapAfter} bytes across install and uninstall`);
  },
};

function referenceParse(input: Uint8Array): { value?: unknown; error?: string } {
  try {
    const value = JSON.parse(strictUtf8.decode(input));
    if (!value || typeof value !== "object" || Array.isArray(value)) return { error: "not an object" };
    return { value };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function appString(core: Core, slot: number, which: number): string {
  const bytes = core.exports.app_string(slot, which);
  return typeof bytes === "number" ? "" : new TextDecoder().decode(bytes);
}

function expectString(core: Core, slot: number, which: number, want: unknown, field: string): void {
  if (typeof want !== "string") throw new FuzzFailure(`the core accepted ${field} ${JSON.stringify(want)}, which is not a string`);
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(want)) throw new FuzzFailure(`the core accepted ${field} ${JSON.stringify(want)}, which holds a lone surrogate (not UTF-8)`);
  const read = core.exports.app_string(slot, which);
  const got = typeof read === "number" ? new Uint8Array(0) : read;
  const wantBytes = utf8.encode(want);
  if (got.length !== wantBytes.length || got.some((b, i) => b !== wantBytes[i])) {
    throw new FuzzFailure(`${field} reads back as ${JSON.stringify(new TextDecoder().decode(got))}; JSON.parse reads ${JSON.stringify(want)}`);
  }
}

let core: Core | null = null;
/** After a trap the instance's state is unknown: the next case boots a fresh one. */
function sharedCoreLost(): void { core = null; }
function sharedCore(): Core {
  if (!core) {
    core = new ModuleCore({ clockNowMs: () => 0 });
    const rc = core.exports.core_boot(GPIO_PINS, abi.DEFAULT_APP_QUOTA_BYTES, abi.DEFAULT_APP_QUOTA_BYTES);
    if (rc < 0) throw new Error(`core_boot failed: ${rc}`);
  }
  return core;
}
