// wit/wasphere.wit is the one description of the core/host boundary. This test checks, signature
// by signature, that (a) every build of core.wasm imports and exports exactly the canonical-ABI
// lowering of the world (the binary's own type, import and export sections), (b) ABI.md's core
// import and export tables list the WIT's functions with the WIT's signatures, (c) the numbers
// assembly/abi.ts gives the WIT's enums are the enums' case order, and that the host's lifting
// table (EXPORT_SHAPES, HAL_NAMES) is the WIT's. A name or type changed in one place fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { CORE_VARIANTS } from "../../host/footprint.js";
import { EXPORT_SHAPES, HAL_MODULE, HAL_NAMES, WIT_PACKAGE, WIT_VERSION, ModuleCore, coreModule, flashHal, loweredExportName, type ExportName } from "../../host/core.js";
import { Flash } from "../../host/flash.js";
import { LittleFs } from "../../host/fs/littlefs.js";
import { packImage } from "../../host/apps/imagepkg.js";
import { encodeTable, planLayout } from "../../host/flash-layout.js";
import { parseWit, lowerFunc, funcText, typeText, size, load, flattenType, type WitPackage, type WitFunc, type WitInterface } from "./wit-parser.js";
import { binarySignatures, sigText } from "./wasm-sections.js";
import { abiTable, code } from "./abi-doc.js";

const witText = readFileSync(new URL("../../../wit/wasphere.wit", import.meta.url), "utf8");
const wit = parseWit(witText);
const doc = readFileSync(new URL("../../../ABI.md", import.meta.url), "utf8");
const cabiSource = readFileSync(new URL("../../../assembly/cabi.ts", import.meta.url), "utf8");
const numbers = abi as unknown as Record<string, number>;
const iface = (name: string): WitInterface => wit.interfaces.get(name)!;

/** Which part of the fs interface a variant exports: fs-readonly has no writer, no fs-check and no installed-app list. */
const FS_WRITERS = ["fs-check", "fs-format", "fs-write", "fs-truncate", "fs-sync", "fs-mkdir", "fs-remove", "fs-rename", "fs-setattr", "fs-removeattr", "fs-gc", "fs-mkconsistent"];
const expectedFs = (variant: string): string[] => {
  const all = iface("fs").funcs.map((f) => f.name);
  return variant === "no-fs" ? [] : variant === "fs-readonly" ? all.filter((n) => !FS_WRITERS.includes(n) && !n.startsWith("fs-store-")) : all;
};

/** wit kernel's raw-flash parsers: the no-fs core, which imports no flash call, has neither. */
const KERNEL_FLASH = ["pkg-parse", "ptable-parse"];

/** Every mismatch between a core binary and the world's lowering (empty when they agree). */
function checkBinary(w: WitPackage, bytes: Uint8Array, variant: string): string[] {
  const problems: string[] = [];
  const pkg = `${w.namespace}:${w.name}`;
  const world = w.worlds.get("core");
  if (!world) return ["no world core"];
  const { imports, exports, importModules } = binarySignatures(bytes);
  const hal = w.interfaces.get(world.imports[0])!;
  const halModule = `${pkg}/${hal.name}@${w.version}`;
  for (const [name, sig] of imports) {
    if (importModules.get(name) !== halModule) { problems.push(`import ${importModules.get(name)}.${name}: not from ${halModule}`); continue; }
    const f = hal.funcs.find((x) => x.name === name);
    if (!f) { problems.push(`import ${name}: not a function of ${hal.name}`); continue; }
    const want = sigText(lowerFunc(f, hal, "lower"));
    if (sigText(sig) !== want) problems.push(`import ${name}: ${sigText(sig)}, the WIT lowers to ${want}`);
  }
  // `panic` is reached only from an assertion; a build with none has no such import.
  if (variant === "full") for (const f of hal.funcs) if (f.name !== "panic" && !imports.has(f.name)) problems.push(`import ${f.name}: missing`);
  const seen = new Set<string>();
  for (const [name, sig] of exports) {
    if (name === "cabi_realloc") {
      if (sigText(sig) !== "(i32, i32, i32, i32) -> i32") problems.push(`cabi_realloc: ${sigText(sig)}`);
      continue;
    }
    const m = /^([^/]+)\/([a-z-]+)@([^#]+)#([a-z0-9-]+)$/.exec(name);
    if (!m || m[1] !== pkg || m[3] !== w.version || !world.exports.includes(m[2])) { problems.push(`export ${name}: not an export of world core`); continue; }
    const i = w.interfaces.get(m[2])!;
    const f = i.funcs.find((x) => x.name === m[4]);
    if (!f) { problems.push(`export ${name}: ${m[2]} has no ${m[4]}`); continue; }
    seen.add(`${m[2]}#${m[4]}`);
    const want = sigText(lowerFunc(f, i, "lift"));
    if (sigText(sig) !== want) problems.push(`export ${name}: ${sigText(sig)}, the WIT lowers to ${want}`);
  }
  if (!exports.has("cabi_realloc")) problems.push("cabi_realloc: missing");
  for (const e of world.exports) {
    const want = e === "fs" ? expectedFs(variant) : w.interfaces.get(e)!.funcs.map((f) => f.name).filter((n) => variant !== "no-fs" || !KERNEL_FLASH.includes(n));
    for (const n of want) if (!seen.has(`${e}#${n}`)) problems.push(`export ${e}#${n}: missing`);
    if (e === "fs") for (const n of [...seen].filter((s) => s.startsWith("fs#")).map((s) => s.slice(3))) if (!want.includes(n)) problems.push(`export fs#${n}: not in the ${variant} core`);
  }
  return problems;
}

test("wit/wasphere.wit parses: world core imports hal and exports kernel and fs", () => {
  assert.equal(`${wit.namespace}:${wit.name}`, WIT_PACKAGE);
  assert.equal(wit.version, WIT_VERSION);
  assert.deepEqual(wit.worlds.get("core"), { name: "core", imports: ["hal"], exports: ["kernel", "fs"] });
  assert.equal(HAL_MODULE, `${WIT_PACKAGE}/hal@${WIT_VERSION}`);
  // No string crosses: untrusted bytes are list<u8>.
  assert.doesNotMatch(witText.replace(/\/\/.*$/gm, ""), /[:<(,]\s*string\b/);
});

test("the parser refuses what is outside the subset, and flattens as the canonical ABI does", () => {
  const bad = (body: string) => assert.throws(() => parseWit(`package a:b@0.1.0;\ninterface i {\n${body}\n}`), /wit line/);
  bad("f: func(x: strin) -> s32;");
  bad("f: func(type: s32);");
  bad("f: func(x: s32, x: s32);");
  bad("variant v { a }");
  bad("f: func() -> result<_>;");
  const w = parseWit(`package a:b@0.1.0;
interface i {
  record r { k: u8, n: u32, name: list<u8> }
  a: func(x: list<u8>) -> result<list<u8>, s32>;
  b: func() -> result<option<r>, s32>;
  c: func(x: f64, y: u64) -> f64;
  d: func(a: s32, b: s32, c: s32, d: s32, e: s32, f: s32, g: s32, h: s32, i: s32, j: s32, k: s32, l: s32, m: s32, n: s32, o: s32, p: s32, q: s32);
}`);
  const i = w.interfaces.get("i")!;
  const f = (n: string) => i.funcs.find((x) => x.name === n)!;
  assert.equal(sigText(lowerFunc(f("a"), i, "lower")), "(i32, i32, i32) -> void");
  assert.equal(sigText(lowerFunc(f("a"), i, "lift")), "(i32, i32) -> i32");
  assert.equal(sigText(lowerFunc(f("b"), i, "lower")), "(i32) -> void");
  assert.equal(sigText(lowerFunc(f("c"), i, "lift")), "(f64, i64) -> f64");
  assert.equal(sigText(lowerFunc(f("d"), i, "lift")), "(i32) -> void", "more than 16 flat parameters go by pointer");
  // result<option<r>, s32>: tag, then option tag, then r {u8 @0, u32 @4, list @8} at 4: 24 bytes.
  assert.equal(size(f("b").result!, i), 24);
  assert.equal(funcText(f("a")), "func(x: list<u8>) -> result<list<u8>, s32>");
});

for (const variant of CORE_VARIANTS) {
  test(`the ${variant.name} core's imports and exports are the world's lowering, signatures included`, () => {
    const bytes = new Uint8Array(readFileSync(variant.path));
    assert.deepEqual(checkBinary(wit, bytes, variant.name), []);
  });
}

test("the binary check fails on a WIT that differs in a name, a parameter type or a result", () => {
  const bytes = new Uint8Array(readFileSync(CORE_VARIANTS[0].path));
  const changed = (from: string, to: string) => {
    assert.ok(witText.includes(from), from);
    return checkBinary(parseWit(witText.replace(from, to)), bytes, "full");
  };
  assert.match(changed("fs-read: func(fd: s32, len: s32)", "fs-read: func(fd: s32, len: u64)").join("\n"), /fs-read: \(i32, i32\) -> i32, the WIT lowers to \(i32, i64\) -> i32/);
  assert.match(changed("fs-tell: func(fd: s32) -> s32;", "fs-tell: func(fd: s32) -> f64;").join("\n"), /fs-tell: \(i32\) -> i32, the WIT lowers to \(i32\) -> f64/);
  assert.match(changed("fs-stat: func(path: list<u8>)", "fs-stat: func(path: list<u8>, x: s32)").join("\n"), /fs-stat/);
  assert.match(changed("flash-sync: func() -> s32;", "flash-syncs: func() -> s32;").join("\n"), /import flash-sync: not a function of hal/);
  assert.match(changed("app-copy-in: func(task: s32, app-ptr: u32, len: u32) -> result<list<u8>, s32>;", "app-copy-in: func(task: s32, app-ptr: u32, len: u32) -> s32;").join("\n"), /import app-copy-in/);
  assert.match(changed("package wasphere:core@0.1.0;", "package wasphere:core@0.2.0;").join("\n"), /not from wasphere:core\/hal@0.2.0/);
});

test("the host's lifting table and hal names are the WIT's functions and shapes", () => {
  const shapeOf = (f: WitFunc): string => {
    const t = f.result ? typeText(f.result) : "";
    const byType: Record<string, string> = {
      "s32": "n", "s64": "n", "f64": "n", "list<u8>": "list", "result<list<u8>, s32>": "result-list", "result<stat, s32>": "result-stat",
      "result<option<dir-entry>, s32>": "result-dir", "result<fs-info, s32>": "result-info", "result<fs-fault, s32>": "result-fault",
      "result<mount-info, s32>": "result-mount",
      "result<pkg-info, s32>": "result-pkg", "result<list<partition-entry>, s32>": "result-partitions",
    };
    return byType[t] ?? `no shape for ${t}`;
  };
  const expected: Record<string, unknown> = {};
  for (const i of ["kernel", "fs"]) {
    for (const f of iface(i).funcs) {
      expected[f.name.replace(/-/g, "_")] = [i, f.params.map((x) => (typeText(x.type) === "list<u8>" ? "L" : "n")).join(""), shapeOf(f)];
    }
  }
  assert.deepEqual(EXPORT_SHAPES, expected);
  assert.deepEqual([...HAL_NAMES], iface("hal").funcs.map((f) => f.name));
});

test("every return area the core uses holds the largest result that goes through it", () => {
  const bytesOf = (name: string) => Number(new RegExp(`export const ${name}: i32 = (\\d+);`).exec(cabiSource)?.[1]);
  const exportRet = bytesOf("EXPORT_RET_BYTES"), importRet = bytesOf("IMPORT_RET_BYTES");
  assert.ok(exportRet > 0 && importRet > 0);
  for (const i of ["kernel", "fs"]) {
    for (const f of iface(i).funcs) if (f.result && lowerFunc(f, iface(i), "lift").results[0] === "i32" && lowerFunc({ ...f, params: [] }, iface(i), "lower").params.length === 1) {
      assert.ok(size(f.result, iface(i)) <= exportRet, `${f.name}: ${size(f.result, iface(i))} bytes`);
    }
  }
  for (const f of iface("hal").funcs) if (f.result && lowerFunc(f, iface("hal"), "lower").results.length === 0) {
    assert.ok(size(f.result, iface("hal")) <= importRet, `${f.name}: ${size(f.result, iface("hal"))} bytes`);
  }
});

/** ABI.md's rows for an interface: [name, signature] of each. */
const docRows = (heading: string) => abiTable(doc, heading).map((r) => [code(r[0]), code(r[1])] as const).filter(([n]) => n && n !== "memory" && n !== "cabi_realloc");

for (const [heading, name] of [["Core imports", "hal"], ["Core exports", "kernel"], ["File-system exports", "fs"]] as const) {
  test(`ABI.md's "${heading}" table is wit ${name}'s functions with their WIT signatures`, () => {
    const rows = docRows(heading);
    assert.deepEqual(rows.map(([n]) => n), iface(name).funcs.map((f) => f.name), "the same functions, in the WIT's order");
    for (const [n, sig] of rows) assert.equal(sig, funcText(iface(name).funcs.find((f) => f.name === n)!), `ABI.md ${n}`);
  });
}

test("ABI.md's core export table names memory and cabi_realloc, the canonical ABI's own exports", () => {
  const names = abiTable(doc, "Core exports").map((r) => code(r[0]));
  assert.ok(names.includes("memory") && names.includes("cabi_realloc"));
});

// ---- (c) The enums are assembly/abi.ts's numbers, in order, and nothing more.
const ENUM_FAMILIES: [iface: string, enumName: string, prefix: string, exclude?: RegExp][] = [
  ["hal", "gpio-direction", "GPIO_DIR_"],
  ["kernel", "stop-reason", "STOP_"],
  ["kernel", "app-field-id", "APP_FIELD_"],
  ["kernel", "app-string-id", "APP_STRING_"],
  ["kernel", "audit-field-id", "AUDIT_", /^AUDIT_(ENTRIES|EVENTS_PER_WINDOW)$/],
];
for (const [i, e, prefix, exclude] of ENUM_FAMILIES) {
  test(`wit enum ${e} is assembly/abi.ts's ${prefix}* family, case by case`, () => {
    const def = iface(i).types.get(e);
    assert.ok(def && def.kind === "enum", `${i} has enum ${e}`);
    const fromWit = Object.fromEntries(def.cases.map((c, n) => [prefix + c.toUpperCase().replace(/-/g, "_"), n]));
    const fromAbi = Object.fromEntries(Object.entries(numbers).filter(([k, v]) => k.startsWith(prefix) && typeof v === "number" && !exclude?.test(k)));
    assert.deepEqual(fromAbi, fromWit);
  });
}

/**
 * The same export called on two cores over `flash`: one through ModuleCore's hand-written lifting,
 * one through the raw lowered exports, its results loaded at the offsets the WIT's layout gives
 * (the parser's `load`); `both` asserts they agree and returns the loaded form.
 */
function layoutPair(flash: Flash): (name: ExportName, ...args: (number | Uint8Array)[]) => unknown {
  const host = new ModuleCore(flashHal(flash), coreModule()).exports as unknown as Record<string, (...a: unknown[]) => unknown>;
  let raw!: Record<string, any>;
  const mem = () => new Uint8Array((raw.memory as WebAssembly.Memory).buffer);
  const rawHal: Record<string, (...a: number[]) => unknown> = {
    "clock-now-ms": () => 0, "gpio-configure": () => 0, "gpio-write": () => 0, "gpio-read": () => 0, "log-write": () => {},
    "app-copy-in": () => {}, "app-copy-out": () => 0, "app-memory-bytes": () => 0, "panic": () => { throw new Error("panic"); },
    "flash-read": (b, o, n, ret) => {
      const p = raw.cabi_realloc(0, 0, 1, n) >>> 0;
      const bytes = new Uint8Array(n); flash.read(b, o, bytes); mem().set(bytes, p);
      const v = new DataView(mem().buffer); v.setUint8(ret, 0); v.setUint32(ret + 4, p, true); v.setUint32(ret + 8, n, true);
    },
    "flash-prog": () => 0, "flash-erase": () => 0, "flash-sync": () => 0, "periph-control": () => -abi.ENODEV, "periph-read": () => {}, "mailbox-post": () => -abi.ENODEV, "net-control": () => -abi.ENODEV, "net-read": () => {},
  };
  raw = new WebAssembly.Instance(coreModule(), { [HAL_MODULE]: rawHal }).exports as Record<string, any>;
  const lower = (bytes: Uint8Array): number[] => { const p = raw.cabi_realloc(0, 0, 1, bytes.length) >>> 0; mem().set(bytes, p); return [p, bytes.length]; };
  const rawCall = (name: ExportName, ...args: (number | Uint8Array)[]): unknown => {
    const i = iface(EXPORT_SHAPES[name][0]);
    const f = i.funcs.find((x) => x.name === name.replace(/_/g, "-"))!;
    const r = raw[loweredExportName(name)](...args.flatMap((a) => (a instanceof Uint8Array ? lower(a) : [a])));
    // A result that does not flatten to one value comes back as the address of its return area.
    return flattenType(f.result!, i).length > 1 ? load(mem(), r >>> 0, f.result!, i) : r;
  };
  const norm = (x: unknown): unknown => typeof x === "bigint" ? Number(x) : x instanceof Uint8Array ? [...x] : Array.isArray(x) ? x.map(norm)
    : x && typeof x === "object" ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()), norm(y)])) : x;
  /** The same call on both; ModuleCore's value put in the loaded form (a result's number is its err). */
  const both = (name: ExportName, ...args: (number | Uint8Array)[]) => {
    const isResult = EXPORT_SHAPES[name][2].startsWith("result");
    const v = host[name](...args);
    const viaHost = isResult ? (typeof v === "number" ? { err: v } : { ok: norm(v) }) : norm(v);
    const viaLayout = norm(rawCall(name, ...args));
    assert.deepEqual(viaHost, viaLayout, name);
    return viaLayout;
  };
  return both;
}

test("the host lifts every record and list result from where the canonical ABI lays it out", async () => {
  const flash = new Flash({ blockSizeBytes: 512, blockCount: 32 });
  await LittleFs.format(flash, { blockSize: 512, blockCount: 32 });
  const fs = LittleFs.mount(flash, { blockSize: 512, blockCount: 32 });
  fs.writeFile("/hello.txt", new TextEncoder().encode("hello"));
  fs.setattr("/hello.txt", 7, Uint8Array.of(1, 2, 3));
  fs.unmount();
  const both = layoutPair(flash);
  const path = new TextEncoder().encode("/hello.txt");
  assert.equal(both("fs_config", 512, 32, 16, 16, 64, 16, 500, 255, 0), 0);
  assert.equal(both("fs_mount"), 0);
  assert.deepEqual(both("fs_stat", path), { ok: { kind: 1, size: 5 } });
  assert.deepEqual(both("fs_stat", new TextEncoder().encode("/none")), { err: -abi.ENOENT });
  assert.deepEqual(both("fs_getattr", path, 7), { ok: [1, 2, 3] });
  assert.deepEqual(both("fs_listattrs", path), { ok: [7] });
  assert.equal((both("fs_fsinfo") as { ok: { blockSize: number } }).ok.blockSize, 512);
  assert.deepEqual(both("fs_check", 0), { ok: { code: 0, detail: [0, 0, 0, 0] } });
  const hostMountRam = both("fs_mount_ram_bytes", 0) as number;
  assert.ok(hostMountRam > 0);
  // The host mount (32 blocks at 0, read-write, mounted, the system's): every field at its own offset.
  assert.deepEqual(both("fs_mount_info", 0), { ok: { baseBlock: 0, blockCount: 32, mountFlags: 2, owner: -1, ramBytes: hostMountRam } });
  assert.deepEqual(both("fs_mount_info", 1), { err: -abi.EBADF });
  const dir = both("fs_dir_open", new TextEncoder().encode("/")) as number;
  assert.ok(dir >= 0);
  assert.deepEqual(both("fs_dir_read", dir), { ok: { kind: 1, size: 5, name: [...new TextEncoder().encode("hello.txt")] } });
  assert.deepEqual(both("fs_dir_read", dir), { ok: null });
  const fd = both("fs_open", path, 1) as number;
  assert.deepEqual(both("fs_read", fd, 64), { ok: [...new TextEncoder().encode("hello")] });
  assert.deepEqual(both("core_error_message"), []);
  assert.deepEqual(both("app_string", 3, 0), { err: -abi.ENOENT });
  // The raw-flash parsers' refusals (their accepted records: tests/host/imagepkg and ptable).
  assert.deepEqual(both("pkg_parse", 512, 0, 4096), { err: -abi.EINVAL });
  assert.deepEqual(both("ptable_parse", 512, 32), { err: -abi.EINVAL });
});

test("the host lifts pkg-info and list<partition-entry> from where the canonical ABI lays them out", async () => {
  // A 2 MiB device: the partition table in block 0, a package at block 16.
  const flash = new Flash({ blockSizeBytes: 4096, blockCount: 512 });
  flash.bytes.set(encodeTable(planLayout(2 * 1024 * 1024), 2 * 1024 * 1024), 0);
  const enc = new TextEncoder();
  const componentId = "1689d8b2-c835-2e27-27ad-e894d6d15fa9";
  const pkg = await packImage({
    files: [{ path: "app_manifest.json", bytes: enc.encode(JSON.stringify({ SchemaVersion: 1, Name: "layout", ComponentId: componentId, EntryPoint: "a.wasm" })) }, { path: "a.wasm", bytes: new Uint8Array(8) }],
    componentId, imageVersion: 7, buildTimeSeconds: 1700000000, name: "layout",
  });
  flash.bytes.set(pkg, 16 * 4096);
  const both = layoutPair(flash);
  const info = both("pkg_parse", 4096, 16, pkg.length) as { ok: Record<string, unknown> };
  assert.equal(info.ok.version, 7);
  assert.equal(info.ok.buildTime, 1700000000);
  assert.deepEqual(info.ok.name, [...enc.encode("layout")]);
  assert.equal((info.ok.componentId as number[]).length, 16);
  assert.equal((info.ok.signature as number[]).length, 64);
  assert.equal(info.ok.signedBytes, pkg.length - 16 - 92);
  const table = both("ptable_parse", 4096, 512) as { ok: Record<string, unknown>[] };
  assert.deepEqual(table.ok.map((e) => e.type), [abi.PART_OS_A, abi.PART_OS_B, abi.PART_APPS, abi.PART_STAGING, abi.PART_DATA]);
  assert.deepEqual(table.ok[0], { type: abi.PART_OS_A, flags: abi.PART_FLAG_ACTIVE, offsetBytes: 4096, sizeBytes: 128 * 1024 });
  assert.deepEqual(table.ok[4], { type: abi.PART_DATA, flags: 0, offsetBytes: 12 * 128 * 1024, sizeBytes: 4 * 128 * 1024 });
});
