// ComponentCore (host/core-component.ts) gives the same answers as ModuleCore: the same sequence of
// kernel and fs calls, errors included, on both; it refuses re-entry from a hal call and a list
// longer than the cabi arena without breaking the core; it stays out of the lean bundle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import { CabiArenaFull, flashHal, ModuleCore, type Core, type Hal } from "../../host/core.js";
import { Flash } from "../../host/flash.js";
import { O_CREAT, O_RDWR, SEEK_SET } from "../../host/fs/littlefs.js";
import { BUNDLE_PATH } from "../../tools/bundle.js";
import { componentPresent, REPO } from "./component-support.js";

const enc = (s: string) => new TextEncoder().encode(s);
const MANIFEST = enc(JSON.stringify({
  SchemaVersion: 1, Name: "diff", ComponentId: "5d1c7e3a-2b4f-4c6d-8e9a-0f1b2c3d4e5f", EntryPoint: "diff.wasm", CmdArgs: ["a", "b"], Capabilities: { Gpio: [3] },
}));

async function componentCore(hal: Hal): Promise<Core> {
  const { ComponentCore, loadComponentBindings } = await import("../../host/core-component.js");
  return new ComponentCore(hal, await loadComponentBindings());
}

/** Every call and its answer, on a fresh core over its own flash: what both cores must agree on. */
function script(core: Core): unknown[] {
  const x = core.exports;
  const log: unknown[] = [];
  const call = (name: string, ...args: unknown[]) => {
    const r = (x as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
    log.push([name, args, r]);
    return r as any;
  };
  call("core_boot", 16, 256 * 1024, 64 * 1024);
  call("core_version");
  call("app_install", enc("{ not json"));
  log.push(["lastError", core.lastError()]);
  const slot = call("app_install", MANIFEST);
  for (let field = 0; field <= abi.APP_FIELD_MEM_PEAK_BYTES; field++) call("app_field", slot, field);
  for (const which of [abi.APP_STRING_NAME, abi.APP_STRING_COMPONENT_ID, abi.APP_STRING_ENTRY_POINT, abi.APP_STRING_CMD_ARGS]) call("app_string", slot, which);
  call("app_string", 7, abi.APP_STRING_NAME);
  const task = call("app_start", slot);
  call("sched_next", 0);
  call("sched_slice_fuel");
  call("syscall", task, abi.SYS_GPIO_OPEN_OUTPUT, 3, 1, 0, 0);
  call("syscall", task, abi.SYS_GPIO_OPEN_OUTPUT, 4, 1, 0, 0);
  call("sched_report", task, abi.STOP_YIELDED, 0, 100);
  call("sched_next_deadline_ms");
  const total = call("audit_total");
  for (let seq = 0; seq < total; seq++) {
    for (let f = abi.AUDIT_SEQ; f <= abi.AUDIT_RESULT; f++) call("audit_field", seq, f);
    call("audit_time_ms", seq);
  }
  for (const m of ["mem_static_bytes", "mem_heap_in_use_bytes", "mem_heap_peak_bytes", "mem_app_reserved_bytes", "mem_free_bytes", "mem_table_bytes", "mem_cabi_arena_bytes"]) call(m);
  call("app_stop", slot);
  call("app_uninstall", slot);
  // The file system, with every result shape: lists, records, option none, errors.
  call("fs_config", 512, 64, 16, 16, 64, 16, 500, 255, 0);
  call("fs_format");
  call("fs_mount");
  call("fs_mkdir", enc("/d"));
  const fd = call("fs_open", enc("/d/f"), O_CREAT | O_RDWR);
  call("fs_write", fd, enc("hello, component"));
  call("fs_seek", fd, 0, SEEK_SET);
  call("fs_read", fd, 5);
  call("fs_tell", fd);
  call("fs_file_size", fd);
  call("fs_close", fd);
  call("fs_read", fd, 5);
  call("fs_setattr", enc("/d/f"), 7, enc("attr"));
  call("fs_getattr", enc("/d/f"), 7);
  call("fs_getattr", enc("/d/f"), 8);
  call("fs_listattrs", enc("/d/f"));
  call("fs_stat", enc("/d/f"));
  call("fs_stat", enc("/nope"));
  const dir = call("fs_dir_open", enc("/d"));
  for (let i = 0; i < 4; i++) call("fs_dir_read", dir);
  call("fs_dir_close", dir);
  call("fs_fsinfo");
  call("fs_check", 0);
  call("fs_rename", enc("/d/f"), enc("/g"));
  call("fs_remove", enc("/d"));
  call("fs_size_blocks");
  call("fs_unmount");
  return log;
}

test("ComponentCore answers every call as ModuleCore does", async (t) => {
  if (!componentPresent(t)) return;
  const geometry = { blockSizeBytes: 512, blockCount: 64 };
  const halOver = (flash: Flash): Hal => ({ clockNowMs: () => 0, gpioConfigure: () => 0, gpioWrite: () => 0, ...flashHal(flash) });
  const viaModule = script(new ModuleCore(halOver(new Flash(geometry))));
  const viaComponent = script(await componentCore(halOver(new Flash(geometry))));
  assert.deepEqual(viaComponent, viaModule);
  // The script reaches each kind of answer it is there for (so agreement is not agreement on nothing).
  const results = viaModule.map((e) => (e as unknown[])[2]);
  assert.ok(results.some((r) => r instanceof Uint8Array && new TextDecoder().decode(r) === "hello"), "a list");
  assert.ok(results.includes(-abi.ENODATA) && results.includes(-abi.ENOENT) && results.includes(-abi.EBADF), "errors of result<_, s32> and of s32");
  assert.ok(results.includes(null), "option none at the end of a directory");
  assert.ok(results.some((r) => typeof r === "object" && r !== null && "kind" in r && "size" in r), "a record");
});

test("a hal that answers a flash read with more bytes than asked gives both cores the same -errno", async (t) => {
  if (!componentPresent(t)) return;
  const geometry = { blockSizeBytes: 512, blockCount: 64 };
  const results = [];
  for (const make of [(hal: Hal) => Promise.resolve(new ModuleCore(hal)), componentCore]) {
    const flash = new Flash(geometry);
    const honest = flashHal(flash);
    let lie = false;
    // The lie: the right bytes and one more. Taken as they are, the mount would succeed.
    const core = await make({ clockNowMs: () => 0, ...honest, flashRead: (b, o, n) => {
      const bytes = honest.flashRead!(b, o, n) as Uint8Array;
      return lie ? Uint8Array.from([...bytes, 0]) : bytes;
    } });
    const x = core.exports;
    x.fs_config(512, 64, 16, 16, 64, 16, 500, 255, 0);
    assert.equal(x.fs_format(), 0);
    lie = true;
    results.push(x.fs_mount());
  }
  // The core sees each read fail (-EIO) and mounts nothing: littlefs calls the image corrupt.
  assert.deepEqual(results, [-abi.ECORRUPT, -abi.ECORRUPT]);
});

test("ComponentCore reads pkg-info and list<partition-entry> as ModuleCore lifts them by hand", async (t) => {
  if (!componentPresent(t)) return;
  const { packImage } = await import("../../host/apps/imagepkg.js");
  const { encodeTable, planLayout } = await import("../../host/flash-layout.js");
  // A 2 MiB device: the partition table in block 0, a package at block 16.
  const flash = new Flash({ blockSizeBytes: 4096, blockCount: 512 });
  flash.bytes.set(encodeTable(planLayout(2 * 1024 * 1024), 2 * 1024 * 1024), 0);
  const componentId = "1689d8b2-c835-2e27-27ad-e894d6d15fa9";
  const pkg = await packImage({
    files: [{ path: "app_manifest.json", bytes: enc(JSON.stringify({ SchemaVersion: 1, Name: "p", ComponentId: componentId, EntryPoint: "a.wasm" })) }, { path: "a.wasm", bytes: new Uint8Array(8) }],
    componentId, imageVersion: 3, buildTimeSeconds: 1700000000, name: "p",
  });
  flash.bytes.set(pkg, 16 * 4096);
  const viaModule = new ModuleCore(flashHal(flash)).exports, viaComponent = (await componentCore(flashHal(flash))).exports;
  const info = viaModule.pkg_parse(4096, 16, pkg.length);
  assert.ok(typeof info !== "number" && info.version === 3 && info.buildTime === 1700000000n, String(info));
  assert.deepEqual(viaComponent.pkg_parse(4096, 16, pkg.length), info);
  assert.deepEqual(viaComponent.ptable_parse(4096, 512), viaModule.ptable_parse(4096, 512));
  // Refusals: err -EINVAL from both (pkg-info's err payload lies at byte 8, as its ok does).
  assert.equal(viaComponent.pkg_parse(4096, 17, pkg.length), -abi.EINVAL);
  assert.equal(viaModule.pkg_parse(4096, 17, pkg.length), -abi.EINVAL);
  assert.equal(viaComponent.ptable_parse(4096, 1024), -abi.EINVAL);
  assert.equal(viaModule.ptable_parse(4096, 1024), -abi.EINVAL);
});

test("ComponentCore refuses a call into the core from inside a hal call", async (t) => {
  if (!componentPresent(t)) return;
  const { CoreReentered } = await import("../../host/core-component.js");
  let core: Core | null = null;
  let inner: unknown = null;
  core = await componentCore({
    clockNowMs: () => 0,
    gpioConfigure: () => {
      try { core!.exports.core_version(); } catch (err) { inner = err; throw err; }
      return 0;
    },
  });
  const x = core.exports;
  assert.equal(x.core_boot(16, 256 * 1024, 64 * 1024), 0);
  const slot = x.app_install(MANIFEST);
  const task = x.app_start(slot);
  assert.equal(x.sched_next(0), task);
  assert.throws(() => x.syscall(task, abi.SYS_GPIO_OPEN_OUTPUT, 3, 1, 0, 0), CoreReentered);
  assert.ok(inner instanceof CoreReentered);
  assert.match((inner as Error).message, /^core_version called while syscall runs \(from inside a hal call\): the core is not re-entrant$/);
});

test("ComponentCore refuses a list longer than the cabi arena before the core sees it, and goes on", async (t) => {
  if (!componentPresent(t)) return;
  const core = await componentCore({ clockNowMs: () => 0 });
  const x = core.exports;
  assert.equal(x.core_boot(16, 256 * 1024, 64 * 1024), 0);
  assert.throws(() => x.app_install(new Uint8Array(abi.CABI_ARENA_BYTES + 1)), CabiArenaFull);
  assert.ok(x.app_install(MANIFEST) >= 0, "the core still installs an app");
  const lastField = Object.keys(abi).filter((k) => k.startsWith("APP_FIELD_")).length - 1;
  assert.throws(() => x.app_field(0, 99), new RegExp(`app_field: 99 is no case of enum app-field-id \\(0\\.\\.${lastField}\\)`));
  assert.equal(core.memoryBytes(), 64 * 65536);
});

test("the lean bundle holds no component core", () => {
  const lean = readFileSync(BUNDLE_PATH, "utf8");
  assert.ok(!lean.includes("is not re-entrant") && !lean.includes("core-component"), "build/wasphere-host.mjs leaves host/core-component.ts out");
  assert.ok(!readFileSync(`${REPO}host/bundle.ts`, "utf8").includes("core-component"));
});

test("the component host passes a hal's list answer on only at exactly the length asked for", async () => {
  // The core checks the length too (the test above); this checks the host's own check, which
  // keeps a wrong answer from crossing into the component at all.
  const { halListResult } = await import("../../host/core-component.js");
  const bytes = Uint8Array.of(1, 2, 3);
  assert.deepEqual(halListResult(bytes, 3), { tag: "ok", val: bytes });
  assert.deepEqual(halListResult(bytes, 4), { tag: "err", val: -abi.EIO }, "fewer bytes than asked");
  assert.deepEqual(halListResult(bytes, 2), { tag: "err", val: -abi.EIO }, "more bytes than asked");
  assert.deepEqual(halListResult(-abi.EFAULT, 3), { tag: "err", val: -abi.EFAULT });
  assert.deepEqual(halListResult(7, 3), { tag: "err", val: -abi.EIO }, "a positive number is no errno");
});
