// Storage on a device that lives on flash (assembly/storage/*, ABI.md "Storage"): an app's mutable
// files persist across restart, reboot and replacement and go with the app's deletion; the quota
// counts flash cost and refuses before writing; an app reads its own package's files and nothing
// else; every refusal is the errno ABI.md gives. Each probe app exits with the result it checks.
import test from "node:test";
import assert from "node:assert/strict";
import { packImage, type PackFile } from "../../host/apps/imagepkg.js";
import { FlashDevice } from "../../host/device-flash.js";
import { trustedBoot, signed } from "./trust-support.js";
import { VirtualClock } from "../../host/peripherals/clock.js";
import type { Flash } from "../../host/flash.js";
import * as abi from "../../assembly/abi.js";
import { wat } from "../e2e/support.js";
import { cache, freshFlash, ID_A, ID_B } from "./device-flash-support.js";

const enc = new TextEncoder();
const IMPORTS = `
  (import "applibs" "exit" (func $exit (param i32)))
  (import "applibs" "storage_open" (func $open (param i32 i32 i32) (result i32)))
  (import "applibs" "storage_read" (func $read (param i32 i32 i32) (result i32)))
  (import "applibs" "storage_write" (func $write (param i32 i32 i32) (result i32)))
  (import "applibs" "storage_seek" (func $seek (param i32 i32 i32) (result i32)))
  (import "applibs" "storage_truncate" (func $truncate (param i32 i32) (result i32)))
  (import "applibs" "storage_delete" (func $delete (param i32 i32) (result i32)))
  (import "applibs" "storage_usage" (func $usage (result i32)))
  (import "applibs" "package_open" (func $pkgopen (param i32 i32) (result i32)))`;

/** A module whose main exits with `body`'s i32; `strings` are laid out from address 8192 (below it is the SDK runtime's area), in order. */
function probe(body: string, strings: string[] = []): Uint8Array {
  let at = 8192;
  const data = strings.map((s) => { const d = `(data (i32.const ${at}) "${s}")`; at += s.length; return d; }).join("\n");
  return wat(`(module ${IMPORTS}
    (memory (export "memory") 1)
    ${data}
    (func (export "main") (result i32) (local $h i32) (local $r i32) (local $i i32)
      (call $exit ${body}) (i32.const 0)))`);
}
/** The address of strings[i] in a probe. */
const addr = (strings: string[], i: number) => 8192 + strings.slice(0, i).reduce((n, s) => n + s.length, 0);

/** Counts its boots in the mutable file "count" and exits with the new count. */
const COUNTER = probe(`
  (local.set $h (call $open (i32.const 8192) (i32.const 5) (i32.const ${abi.STORAGE_OPEN_CREATE})))
  (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $exit (local.get $h))))
  (local.set $r (call $read (local.get $h) (i32.const 16384) (i32.const 4)))
  (i32.store (i32.const 16384) (i32.add (select (i32.load (i32.const 16384)) (i32.const 0) (i32.eq (local.get $r) (i32.const 4))) (i32.const 1)))
  (drop (call $seek (local.get $h) (i32.const 0) (i32.const 0)))
  (local.set $r (call $write (local.get $h) (i32.const 16384) (i32.const 4)))
  (select (i32.load (i32.const 16384)) (local.get $r) (i32.eq (local.get $r) (i32.const 4)))`, ["count"]);

function manifest(name: string, id: string, caps: Record<string, unknown>): Uint8Array {
  return enc.encode(JSON.stringify({ SchemaVersion: 1, Name: name, ComponentId: id, EntryPoint: "main.wasm", Capabilities: caps, MemoryQuotaKiB: 64 }));
}
async function pkgOf(name: string, id: string, module: Uint8Array, caps: Record<string, unknown> = { MutableStorage: { SizeKB: 8 } }, opts: { version?: number; extra?: PackFile[] } = {}) {
  return signed(await packImage({
    files: [{ path: "app_manifest.json", bytes: manifest(name, id, caps) }, { path: "main.wasm", bytes: module }, ...(opts.extra ?? [])],
    componentId: id, imageVersion: opts.version ?? 1, buildTimeSeconds: 1764633600, name,
  }));
}

const bootOn = (flash: Flash) => trustedBoot(flash, { startApps: true, instrumentCache: cache, gpioPinCount: 96, clock: new VirtualClock() });
/** Boots `flash` with its apps started, runs until they are idle; the exit codes of `name`. */
async function runExits(dev: FlashDevice, name: string): Promise<number[]> {
  await dev.device.run({ untilMs: 10_000 });
  return dev.device.events.of("app").filter((e) => e.app === name && e.what === "exited").map((e) => Number(e.detail?.replace("code ", "")));
}
/** Deploys one probe onto a fresh device and returns its one exit code. */
async function probeResult(module: Uint8Array, caps?: Record<string, unknown>, extra?: PackFile[]): Promise<number> {
  const flash = await freshFlash();
  const dev = await bootOn(flash);
  await dev.deploy(await pkgOf("probe", ID_A, module, caps, { extra }));
  const codes = await runExits(dev, "probe");
  assert.equal(codes.length, 1, `one exit: ${codes}`);
  return codes[0];
}

test("mutable data survives restart, reboot and replacement; deleting the app deletes it; another app sees none of it", async () => {
  const flash = await freshFlash();
  let dev = await bootOn(flash);
  await dev.deploy(await pkgOf("counter", ID_A, COUNTER));
  assert.deepEqual(await runExits(dev, "counter"), [1]);
  await dev.start(ID_A);
  assert.deepEqual(await runExits(dev, "counter"), [1, 2]);
  // The usage the core reports is the file's flash cost: 4 inline bytes, its 5-byte name, 16 of tags.
  assert.equal(dev.device.core.exports.app_field(dev.device.installedApps()[0].slot, abi.APP_FIELD_STORAGE_USED_BYTES), 4 + 5 + abi.STORAGE_INLINE_OVERHEAD_BYTES);
  assert.equal(dev.device.core.exports.app_field(dev.device.installedApps()[0].slot, abi.APP_FIELD_STORAGE_QUOTA_BYTES), 8192);
  assert.deepEqual(await dev.quota(ID_A), { componentId: ID_A, name: "counter", quotaBytes: 8192, usedBytes: 25 });
  dev = await bootOn(flash.clone());
  assert.deepEqual(await runExits(dev, "counter"), [3]);
  await dev.deploy(await pkgOf("counter", ID_A, COUNTER, undefined, { version: 2 }));
  assert.deepEqual(await runExits(dev, "counter"), [3, 4]);
  // Another app with the same file name has a namespace of its own.
  await dev.deploy(await pkgOf("other", ID_B, COUNTER));
  assert.deepEqual(await runExits(dev, "other"), [1]);
  await dev.remove(ID_A);
  // What is left under /s is the other app's directory alone.
  const e = dev.device.core.exports;
  const dir = e.fs_dir_open(enc.encode("/s"));
  assert.ok(dir >= 0, `fs_dir_open: ${dir}`);
  const names: string[] = [];
  for (let r = e.fs_dir_read(dir); r !== null && typeof r !== "number"; r = e.fs_dir_read(dir)) names.push(new TextDecoder().decode(r.name));
  e.fs_dir_close(dir);
  assert.deepEqual(names.filter((n) => n !== "." && n !== ".."), [ID_B]);
  dev = await bootOn(dev.device.flash!.clone());
  await dev.deploy(await pkgOf("counter", ID_A, COUNTER));
  assert.deepEqual(await runExits(dev, "counter"), [1], "a deleted app's data went with it");
  assert.deepEqual(await runExits(dev, "other"), [2], "the other app's data stayed");
});

test("without MutableStorage every call naming a file is -EACCES and audited; handle calls on forged handles are -EBADF", async () => {
  const none = { Gpio: [] };
  assert.equal(await probeResult(probe(`(call $open (i32.const 8192) (i32.const 5) (i32.const 1))`, ["count"]), none), -abi.EACCES);
  assert.equal(await probeResult(probe(`(call $delete (i32.const 8192) (i32.const 5))`, ["count"]), none), -abi.EACCES);
  assert.equal(await probeResult(probe(`(call $usage)`), none), -abi.EACCES);
  assert.equal(await probeResult(probe(`(call $read (i32.const 8193) (i32.const 16384) (i32.const 4))`)), -abi.EBADF);
  assert.equal(await probeResult(probe(`(call $write (i32.const 77) (i32.const 16384) (i32.const 4))`)), -abi.EBADF);
  const flash = await freshFlash();
  const dev = await bootOn(flash);
  await dev.deploy(await pkgOf("probe", ID_A, probe(`(call $open (i32.const 8192) (i32.const 5) (i32.const 1))`, ["count"]), none));
  await runExits(dev, "probe");
  const denied = dev.device.audit().filter((a) => a.kind === abi.EV_DENIED && a.syscall === abi.SYS_STORAGE_OPEN);
  assert.equal(denied.length, 1);
});

test("names and package paths: only checked names, only the app's own package, read-only", async () => {
  const open = (s: string, flags = 1) => probeResult(probe(`(call $open (i32.const 8192) (i32.const ${s.length}) (i32.const ${flags}))`, [s]));
  assert.equal(await open(".."), -abi.EINVAL);
  assert.equal(await open("."), -abi.EINVAL);
  assert.equal(await open("a/b"), -abi.EINVAL);
  assert.equal(await open("x".repeat(33)), -abi.ENAMETOOLONG);
  assert.equal(await open("ok", 4), -abi.EINVAL);
  assert.equal(await open("missing", 0), -abi.ENOENT);
  assert.ok(await open("x".repeat(32)) > 0);
  assert.equal(await probeResult(probe(`(call $open (i32.const 65530) (i32.const 20) (i32.const 1))`)), -abi.EFAULT);

  const extra: PackFile[] = [{ path: "config/period.txt", bytes: enc.encode("250") }];
  const popen = (s: string) => probeResult(probe(`(call $pkgopen (i32.const 8192) (i32.const ${s.length}))`, [s]), undefined, extra);
  assert.equal(await popen("/app_manifest.json"), -abi.EINVAL);
  assert.equal(await popen("config/../app_manifest.json"), -abi.EINVAL);
  assert.equal(await popen("../s"), -abi.EINVAL);
  assert.equal(await popen("config//period.txt"), -abi.EINVAL);
  assert.equal(await popen("config"), -abi.EISDIR);
  assert.equal(await popen("nope.txt"), -abi.ENOENT);
  assert.ok(await popen("config/period.txt") > 0);
  // Its bytes, read through the handle: "250" is 0x303532 little-endian in the first 3 bytes.
  const s = ["config/period.txt"];
  const readBack = probe(`
    (local.set $h (call $pkgopen (i32.const 8192) (i32.const 17)))
    (local.set $r (call $read (local.get $h) (i32.const 20480) (i32.const 100)))
    (if (i32.ne (local.get $r) (i32.const 3)) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
    (i32.load (i32.const 20480))`, s);
  assert.equal(await probeResult(readBack, undefined, extra), 0x303532);
  // A package file is read-only: write and truncate are -EBADF.
  const write = probe(`(local.set $h (call $pkgopen (i32.const 8192) (i32.const 17))) (call $write (local.get $h) (i32.const 20480) (i32.const 1))`, s);
  assert.equal(await probeResult(write, undefined, extra), -abi.EBADF);
  const trunc = probe(`(local.set $h (call $pkgopen (i32.const 8192) (i32.const 17))) (call $truncate (local.get $h) (i32.const 0))`, s);
  assert.equal(await probeResult(trunc, undefined, extra), -abi.EBADF);
  // The data partition is not reachable through a package path either.
  assert.equal(await popen("s"), -abi.ENOENT);
});

test("the quota counts flash cost and refuses a write before writing; the committed data stays", async () => {
  // SizeKB 8 on 4 KiB blocks: 4,096 bytes fit one block (cost 4,096 + name + tags); the third
  // 2,048-byte write would need a second block.
  const s = ["big"];
  const writes = `
    (local.set $h (call $open (i32.const 8192) (i32.const 3) (i32.const 1)))
    (drop (call $write (local.get $h) (i32.const 24576) (i32.const 2048)))
    (drop (call $write (local.get $h) (i32.const 24576) (i32.const 2048)))`;
  assert.equal(await probeResult(probe(`${writes} (call $write (local.get $h) (i32.const 24576) (i32.const 2048))`, s)), -abi.EDQUOT);
  assert.equal(await probeResult(probe(`${writes} (drop (call $write (local.get $h) (i32.const 24576) (i32.const 2048))) (call $seek (local.get $h) (i32.const 0) (i32.const 2))`, s)), 4096);
  assert.equal(await probeResult(probe(`${writes} (call $usage)`, s)), 4096 + 3 + abi.STORAGE_INLINE_OVERHEAD_BYTES);
  // Growing by truncate is charged the same way; shrinking always works.
  assert.equal(await probeResult(probe(`${writes} (call $truncate (local.get $h) (i32.const 6000))`, s)), -abi.EDQUOT);
  assert.equal(await probeResult(probe(`${writes} (drop (call $truncate (local.get $h) (i32.const 10))) (call $seek (local.get $h) (i32.const 0) (i32.const 2))`, s)), 10);
  // A bigger quota takes the third write.
  assert.equal(await probeResult(probe(`${writes} (call $write (local.get $h) (i32.const 24576) (i32.const 2048))`, s), { MutableStorage: { SizeKB: 16 } }), 2048);
  // The file count is part of the quota: the 17th file is refused.
  const many = Array.from({ length: 17 }, (_, i) => `f${String(i).padStart(2, "0")}`);
  const opens = many.map((_, i) => `(local.set $r (call $open (i32.const ${addr(many, i)}) (i32.const 3) (i32.const 1)))`).join("\n");
  assert.equal(await probeResult(probe(`${opens} (local.get $r)`, many), { MutableStorage: { SizeKB: 64 } }), -abi.EDQUOT);
});

test("a manifest's MutableStorage is checked: SizeKB required, 1 to 65536", async () => {
  // pack-application asks the core, as the device does.
  const m = (caps: Record<string, unknown>) => pkgOf("probe", ID_A, COUNTER, caps);
  await assert.rejects(m({ MutableStorage: {} }), { message: 'image package: app_manifest.json: Capabilities.MutableStorage: SizeKB is missing (an object like {"SizeKB": 64})' });
  await assert.rejects(m({ MutableStorage: { SizeKB: 0 } }), /Capabilities\.MutableStorage\.SizeKB: must be 1 to 65536, not 0$/);
  await assert.rejects(m({ MutableStorage: { SizeKB: 65537 } }), /must be 1 to 65536, not 65537$/);
  await assert.rejects(m({ MutableStorage: { SizeKB: 8, Files: 2 } }), /unknown field$/);
});

test("power cut at every program and erase of an app's storage writes (its first, which creates its directory and file, and a rewrite): the file holds the old count or the new one", async () => {
  const { Flash } = await import("../../host/flash.js");
  const fresh = await freshFlash();
  const dev0 = await bootOn(fresh);
  await dev0.deploy(await pkgOf("counter", ID_A, COUNTER));
  const once = fresh.clone();
  assert.deepEqual(await runExits(await bootOn(once), "counter"), [1]);
  const reboot = (f: Flash) => bootOn(new Flash({ blockSizeBytes: f.blockSizeBytes, blockCount: f.blockCount }, f.bytes));
  let cuts = 0;
  for (const [base, old] of [[fresh, 0], [once, 1]] as const) {
    for (const mode of ["lost", "torn"] as const) {
      for (let at = 1; ; at++) {
        const flash = base.clone();
        const dev = await bootOn(flash);
        flash.haltOnPowerCut = true;
        flash.armPowerCut(at, mode);
        // The cut reaches the app as a failed call or a host error; nothing of the device survives it but the flash.
        try { await dev.device.run({ untilMs: 10_000 }); } catch { /* the cut */ }
        const cut = flash.powerCutKind !== null;
        const rdev = await reboot(flash);
        const next = await runExits(rdev, "counter");
        if (!cut) { assert.deepEqual(next, [old + 2], `uncut at ${at}`); break; }
        cuts++;
        assert.ok(next.length === 1 && (next[0] === old + 1 || next[0] === old + 2), `cut ${at} (${mode}) from count ${old}: the next boot counted ${next}`);
      }
    }
  }
  assert.ok(cuts >= 4, `cuts: ${cuts}`);
  console.log(`storage write power-loss sweep: ${cuts} cuts`);
});

test("examples/counter, packed from its directory: counts its boots across a restart and a reboot, and logs them", async () => {
  const { packDirectory } = await import("../../host/imagepkg-cli.js");
  const { example } = await import("../e2e/support.js");
  const COUNTER_ID = "7a4c2e19-5b3d-4f80-9c6e-1d2b3a4f5e60";
  const { bytes } = await packDirectory(example("counter"));
  const flash = await freshFlash();
  let dev = await bootOn(flash);
  await dev.deploy(await signed(bytes));
  const logs = async (d: FlashDevice) => { await d.device.run({ untilMs: 10_000 }); return d.device.events.of("log").filter((e) => e.app === "counter").map((e) => e.text); };
  // "mutable": 4 bytes inline, its 7-byte name, 16 of tags.
  assert.deepEqual(await logs(dev), ["boot 1 (storage: 27 bytes used)"]);
  await dev.start(COUNTER_ID);
  assert.deepEqual(await logs(dev), ["boot 1 (storage: 27 bytes used)", "boot 2 (storage: 27 bytes used)"]);
  dev = await bootOn(flash.clone());
  assert.deepEqual(await logs(dev), ["boot 3 (storage: 27 bytes used)"]);
});

test("examples/blink, packed from its directory, takes its half period from period.txt in its package; a bad file falls back to 500 ms and says so", async () => {
  const { packDirectory } = await import("../../host/imagepkg-cli.js");
  const { example } = await import("../e2e/support.js");
  const { mkdtempSync, cpSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const tmp = mkdtempSync(join(tmpdir(), "wasphere-blink-"));
  try {
    /** Blink's LED edges (ms after the first) and its log, packed with period.txt = `period`. */
    const run = async (period: string) => {
      const dir = join(tmp, `p${Buffer.from(period).toString("hex")}`);
      cpSync(example("blink"), dir, { recursive: true });
      writeFileSync(join(dir, "period.txt"), period);
      const { bytes } = await packDirectory(dir);
      const dev = await bootOn(await freshFlash());
      await dev.deploy(await signed(bytes));
      await dev.device.run({ untilMs: 2_000 });
      // The first event is the pin's configuration at open, at the same instant as the first set.
      const edges = dev.device.events.of("gpio").filter((e) => e.pin === 8 && e.source === "core").map((e) => e.timeMs).slice(1);
      const logs = dev.device.events.of("log").filter((e) => e.app === "blink").map((e) => e.text);
      return { gaps: edges.slice(1, 6).map((t, i) => t - edges[i]), logs };
    };
    const fast = await run("125\n");
    assert.deepEqual(fast.logs, ["LED on GPIO 8", "period.txt: half period 125 ms"]);
    assert.deepEqual(fast.gaps, [125, 125, 125, 125, 125]);
    const slow = await run("300");
    assert.deepEqual(slow.logs, ["LED on GPIO 8", "period.txt: half period 300 ms"]);
    assert.deepEqual(slow.gaps.slice(0, 3), [300, 300, 300]);
    for (const bad of ["abc", "5", "60001", "", "12 3"]) {
      const r = await run(bad);
      assert.deepEqual(r.logs, ["LED on GPIO 8", "period.txt: not a number of ms in 10..60000; half period 500 ms"], JSON.stringify(bad));
      assert.deepEqual(r.gaps.slice(0, 2), [500, 500], JSON.stringify(bad));
    }
  } finally { rmSync(tmp, { recursive: true, force: true }); }
});
