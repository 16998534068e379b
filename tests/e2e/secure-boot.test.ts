// Secure boot and the signing rule, against attacks: the boot loader refuses a tampered, unsigned
// or untrusted core; the core refuses an unsigned, tampered or wrong-key package at sideload and
// at boot (the other apps run; audit and boot log lines exact); field mode refuses sideload with
// the how-to; a capability for another device or from an untrusted key is refused; attestation
// over a nonce carries the measurements, checked here with WebCrypto on its own.
import test from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FlashDevice } from "../../host/device-flash.js";
import { ControlError } from "../../host/device-control.js";
import { crc32, parsePackage } from "../../host/apps/imagepkg.js";
import { loadVerifiedCore, signCoreImage, writeCoreImage, parseCoreImage, activeOsSlot, CORE_IMAGE_HEADER_BYTES } from "../../host/boot-loader.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { createCapability } from "../../host/pluton/capability.js";
import { cache, freshFlash, ID_A, ID_B, pkg } from "../host/device-flash-support.js";
import { newSigner, signed, testSigner, trustedProcessor, createTrustedDevice, testKeyFiles } from "../host/trust-support.js";
import type { Flash } from "../../host/flash.js";

const subtle = globalThis.crypto.subtle;
const buf = (b: Uint8Array) => b as unknown as BufferSource;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const KEY = hex(testSigner.keyId);
const CORE = new Uint8Array(readFileSync(CORE_WASM_PATH));
const root = fileURLToPath(new URL("../../../", import.meta.url));

const A1 = await pkg("blink", ID_A, [8]);
const B1 = await pkg("button", ID_B, [12]);

/**
 * `pkg` altered where the signature covers it (its VERSION raised) with every CRC made to match
 * again, as an attacker would: only the signature can tell.
 */
function tampered(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const info = parsePackage(bytes);
  const dv = new DataView(out.buffer);
  const version = info.metadataOffset + 16 + 8 + 36 + 8;
  assert.equal(dv.getUint16(info.metadataOffset + 16 + 8 + 36, true), 2, "the VERSION section is where format 1 puts it");
  dv.setUint32(version, dv.getUint32(version, true) + 1, true);
  dv.setUint32(out.length - 8, crc32(out.subarray(info.metadataOffset, info.metadataOffset + info.metadataBytes)), true);
  return out;
}

/** `pkg` with its signature section zeroed (unsigned) and its CRC made to match. */
function unsigned(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const info = parsePackage(bytes);
  out.fill(0, info.signedBytes + 8, info.signedBytes + 8 + 84);
  new DataView(out.buffer).setUint32(out.length - 8, crc32(out.subarray(info.metadataOffset, info.metadataOffset + info.metadataBytes)), true);
  return out;
}

async function bootWith(flash: Flash, mode: "development" | "field" = "development", roots = [testSigner], startApps = false) {
  const { link, processor } = await trustedProcessor(mode, roots);
  return { dev: await FlashDevice.boot(flash, { startApps, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link }), processor, link };
}

async function refusal(dev: FlashDevice, bytes: Uint8Array): Promise<string> {
  try { await dev.deploy(bytes); } catch (err) {
    assert.ok(err instanceof ControlError, String(err));
    assert.equal(err.code, "refused");
    return err.message;
  }
  assert.fail("deployed");
}

const auditTexts = (dev: FlashDevice) => dev.device.audit().map((a) => dev.device.describeAudit(a));

test("the boot loader compiles only a core signed by a key trusted for the OS; tampered, untrusted and absent cores do not boot, each in one line", async () => {
  const flash = await freshFlash();
  const { link } = await trustedProcessor();
  assert.throws(() => parseCoreImage(flash.bytes.subarray(4096, 4096 + 200), "os-a"), { message: "os-a: holds no core image (erased)" });
  await assert.rejects(loadVerifiedCore(flash, link), { message: "secure boot: os-a: holds no core image (erased); write one signed by a key the device trusts for the OS: wasphere core sign --key OS.pem --output core.img; wasphere device write-core DEV core.img" });
  const image = await signCoreImage(CORE, testSigner);
  writeCoreImage(flash, image);
  const good = await loadVerifiedCore(flash, link);
  assert.ok(good.module instanceof WebAssembly.Module);
  // The measurement is SHA-256 of the signed bytes (the header's first 16 and the stored core).
  const signedBytes = new Uint8Array([...image.subarray(0, 16), ...image.subarray(CORE_IMAGE_HEADER_BYTES)]);
  assert.equal(hex(good.digest), hex(new Uint8Array(await subtle.digest("SHA-256", buf(signedBytes)))));

  const slot = activeOsSlot(flash).offsetBytes;
  const flipped = flash.clone();
  flipped.bytes[slot + CORE_IMAGE_HEADER_BYTES + 1000] ^= 0x04;
  await assert.rejects(loadVerifiedCore(flipped, (await trustedProcessor()).link), {
    message: `secure boot: os-a: the core image's signature does not verify with trusted key ${KEY} (altered after signing); not booted`,
  });
  const other = await newSigner();
  const foreign = flash.clone();
  writeCoreImage(foreign, await signCoreImage(CORE, other));
  await assert.rejects(loadVerifiedCore(foreign, (await trustedProcessor()).link), {
    message: `secure boot: os-a: the core image is signed by key ${hex(other.keyId)}, which this device does not trust for the OS; not booted`,
  });
  // A key trusted for apps only does not make a core bootable.
  const appOnly = await (async () => {
    const t = await trustedProcessor("field", [other]);
    await t.processor.provision([{ role: "app", spkiDer: testSigner.spkiDer }]);
    return t.link;
  })();
  await assert.rejects(loadVerifiedCore(flash, appOnly), { message: `secure boot: os-a: the core image is signed by key ${KEY}, which this device does not trust for the OS; not booted` });
  const zeroed = flash.clone();
  zeroed.bytes.fill(0, slot + 6, slot + 8);
  await assert.rejects(loadVerifiedCore(zeroed, (await trustedProcessor()).link), { message: "secure boot: os-a: the core image is unsigned; the device boots only a core signed by a key it trusts for the OS" });
});

test("sideload refuses unsigned, tampered and wrong-key packages, each audited, and installs the signed one", async () => {
  const { dev } = await bootWith(await freshFlash());
  const other = await newSigner();
  assert.equal(await refusal(dev, unsigned(A1)), "image package: unsigned: every package must be signed by a key this device trusts for apps (image-package pack-application --sign KEY.pem)");
  assert.equal(await refusal(dev, tampered(A1)), `image package: its signature does not verify with trusted key ${KEY} (the package was altered after it was signed)`);
  assert.equal(await refusal(dev, await signed(unsigned(A1), other)), `image package: signed by key ${hex(other.keyId)}, which this device does not trust for apps`);
  assert.deepEqual(await dev.listInstalled(), []);
  assert.deepEqual(auditTexts(dev), [
    "image package sideloaded refused (EPERM): unsigned",
    "image package sideloaded refused (EPERM): its signature does not verify (altered after signing)",
    "image package sideloaded refused (EPERM): signed by a key the device does not trust for apps",
  ]);
  assert.equal((await dev.deploy(A1)).name, "blink");
});

test("at boot, a tampered, unsigned or untrusted package is refused alone: the boot log and the audit say why, the other app runs", async () => {
  const flash = await freshFlash();
  const { dev } = await bootWith(flash);
  await dev.deploy(A1);
  await dev.deploy(B1);
  const [a, b] = await dev.listInstalled();
  const other = await newSigner();
  const foreignB = await signed(unsigned(B1), other);
  assert.equal(foreignB.length, B1.length);
  const cases: [string, (f: Flash) => void, string, string][] = [
    ["tampered", (f) => f.bytes.set(tampered(B1), b.offsetBytes), `image package: its signature does not verify with trusted key ${KEY} (the package was altered after it was signed)`, "its signature does not verify (altered after signing)"],
    ["unsigned", (f) => f.bytes.set(unsigned(B1), b.offsetBytes), "image package: unsigned: every package must be signed by a key this device trusts for apps (image-package pack-application --sign KEY.pem)", "unsigned"],
    ["wrong key", (f) => f.bytes.set(foreignB, b.offsetBytes), `image package: signed by key ${hex(other.keyId)}, which this device does not trust for apps`, "signed by a key the device does not trust for apps"],
  ];
  for (const [what, hurt, line, audit] of cases) {
    const f = flash.clone();
    hurt(f);
    const { dev: rebooted } = await bootWith(f, "development", [testSigner], true);
    assert.deepEqual(rebooted.bootReport.lines, [
      "installed-app list: 2 packages",
      `package ${ID_A} "blink": mounted read-only at flash block ${a.offsetBytes / 4096} (${A1.length} bytes, mount 1, ${rebooted.device.core.exports.fs_mount_ram_bytes(1)} B of RAM)`,
      'app "blink": started',
      `package ${ID_B}: refused, not started: ${line}`,
    ], what);
    assert.deepEqual([rebooted.bootReport.started, rebooted.bootReport.refused], [1, 1]);
    assert.deepEqual(auditTexts(rebooted).filter((t) => t.startsWith("image package")), [`image package entry 1 refused (EPERM): ${audit}`], what);
    assert.equal((await rebooted.status(ID_A)).state, "running");
    await assert.rejects(rebooted.status(ID_B), { code: "unavailable" });
  }
  // A device that trusts another key for apps runs neither.
  const { dev: stranger } = await bootWith(flash.clone(), "development", [await newSigner()], true);
  assert.deepEqual([stranger.bootReport.started, stranger.bootReport.refused], [0, 2]);
  assert.equal(stranger.bootReport.lines[1], `package ${ID_A}: refused, not started: image package: signed by key ${KEY}, which this device does not trust for apps`);
});

test("field mode: sideload is refused with how to enable development, audited; what is installed still boots", async () => {
  const flash = await freshFlash();
  await (await bootWith(flash)).dev.deploy(A1);
  const { dev } = await bootWith(flash, "field", [testSigner], true);
  assert.equal(dev.bootReport.started, 1);
  const how = "sideload: refused: the device is in field mode and runs only what its update feed signs; to sideload, put it in development mode: wasphere device enable-development DEV --capability FILE";
  assert.equal(await refusal(dev, B1), how);
  // Field mode first: an unsigned package gets the same answer, so the how-to comes before signing advice.
  assert.equal(await refusal(dev, unsigned(B1)), how);
  assert.deepEqual(auditTexts(dev).filter((t) => t.startsWith("image package")), [
    "image package sideloaded refused (EPERM): the device is in field mode (no sideloading)",
    "image package sideloaded refused (EPERM): the device is in field mode (no sideloading)",
  ]);
  assert.deepEqual((await dev.listInstalled()).map((x) => x.name), ["blink"]);
});

test("a capability enables development only for its device and only from a trusted key; enable-cloud-test returns to field mode", async () => {
  const { processor } = await trustedProcessor("field");
  const me = processor.identity().deviceId;
  const elsewhere = (await trustedProcessor("field")).processor.identity().deviceId;
  await assert.rejects(processor.applyCapability(await createCapability(elsewhere, testSigner)), { message: `the capability is for device ${hex(elsewhere)}, not this one (${hex(me)})` });
  const stranger = await newSigner();
  await assert.rejects(processor.applyCapability(await createCapability(me, stranger)), { message: `the capability is signed by key ${hex(stranger.keyId)}, which this device does not trust` });
  // A capability from a stranger carrying a trusted key's id: the signature tells.
  const forged = await createCapability(me, { keyId: testSigner.keyId, sign: stranger.sign });
  await assert.rejects(processor.applyCapability(forged), { message: `the capability's signature does not verify with key ${KEY} (the file was altered)` });
  await assert.rejects(processor.applyCapability(new Uint8Array(10)), { message: "a device capability is 104 bytes; this file is 10" });
  assert.equal(processor.mode, "field");
  await processor.applyCapability(await createCapability(me, testSigner));
  assert.equal(processor.mode, "development");
  await processor.clearCapability();
  assert.equal(processor.mode, "field");
});

test("the CLI: a device made with --trust is in field mode; capability create + enable-development allow sideload; enable-cloud-test refuses it again", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "wasphere-secure-"));
  const run = (...args: string[]) => spawnSync(process.execPath, ["bin/wasphere.js", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  const dev = join(tmp, "dev");
  await createTrustedDevice(dev, 2 * 1024 * 1024, 16, "field");
  const id = JSON.parse(run("device", "id", dev, "--json").stdout);
  assert.deepEqual([id.mode, id.trustedRoots], ["field", [{ role: "os", keyId: KEY }, { role: "app", keyId: KEY }]]);
  const pkgFile = join(tmp, "b.imagepackage");
  writeFileSync(pkgFile, B1);
  const deploy = () => run("device", "sideload", "deploy", "--image-package", pkgFile, "--device", dev);
  assert.deepEqual([deploy().status, deploy().stderr], [1, "wasphere: sideload: refused: the device is in field mode and runs only what its update feed signs; to sideload, put it in development mode: wasphere device enable-development DEV --capability FILE\n"]);
  const keyFile = join(tmp, "test.pem");
  writeFileSync(keyFile, testSigner.privatePem);
  const cap = join(tmp, "dev.cap");
  const made = run("device", "capability", "create", "--key", keyFile, "--device-id", id.deviceId, "--output", cap);
  assert.deepEqual([made.status, made.stdout], [0, `${cap}: enables development on device ${id.deviceId}, signed by key ${KEY}\n`]);
  const wrong = join(tmp, "other.cap");
  assert.equal(run("device", "capability", "create", "--key", keyFile, "--device-id", "00".repeat(16), "--output", wrong).status, 0);
  assert.deepEqual([run("device", "enable-development", dev, "--capability", wrong).stderr], [`wasphere: the capability is for device ${"00".repeat(16)}, not this one (${id.deviceId})\n`]);
  const on = run("device", "enable-development", dev, "--capability", cap);
  assert.deepEqual([on.status, on.stdout], [0, `device ${id.deviceId}: development mode (capability signed by key ${KEY}, trusted for the OS); sideload is allowed, every image must still be signed by a trusted key\n`]);
  const ok = deploy();
  assert.equal(ok.status, 0, ok.stderr);
  const off = run("device", "enable-cloud-test", dev);
  assert.deepEqual([off.status, off.stdout], [0, `device ${id.deviceId}: field mode (sideload refused; the device runs what its update feed signs)\n`]);
  assert.equal(deploy().status, 1);
  // A device made with --trust and no --core has nothing to boot, and says how to fix it.
  const { pub } = await testKeyFiles();
  const bare = run("device", "create", join(tmp, "bare"), "--flash-size", "2MiB", "--trust", pub);
  assert.equal(bare.status, 0, bare.stderr);
  assert.match(bare.stdout, /\nos-a: no core yet: write one signed by an OS key: wasphere core sign --key OS.pem --output core.img; wasphere device write-core .*\/bare core.img\n/);
  const booted = run("device", "boot", join(tmp, "bare"), "--seconds", "0.1");
  assert.deepEqual([booted.status, booted.stderr], [1, "wasphere device boot: secure boot: os-a: holds no core image (erased); write one signed by a key the device trusts for the OS: wasphere core sign --key OS.pem --output core.img; wasphere device write-core DEV core.img\n"]);
  const img = join(tmp, "core.img");
  assert.equal(run("core", "sign", "--key", keyFile, "--output", img).status, 0);
  assert.equal(run("device", "write-core", join(tmp, "bare"), img).status, 0);
  const again = run("device", "boot", join(tmp, "bare"), "--seconds", "0.1");
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`\\nsecure boot: os-a: core image version 1, signed by key ${KEY}, verified \\(measurement [0-9a-f]{64}\\)\\n`));
});

test("attestation over a nonce: the boot measurement and each running package's, signed by the device key (checked with WebCrypto)", async () => {
  const flash = await freshFlash();
  const image = await signCoreImage(CORE, testSigner);
  writeCoreImage(flash, image);
  await (await bootWith(flash)).dev.deploy(A1);
  const { link, processor } = await trustedProcessor();
  const core = await loadVerifiedCore(flash, link);
  const dev = await FlashDevice.boot(flash, { startApps: true, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link, coreModule: core.module });
  await dev.deploy(B1);
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const { statement, signature } = await dev.attest(nonce);
  const sha = async (b: Uint8Array) => new Uint8Array(await subtle.digest("SHA-256", buf(b)));
  const signedOf = (p: Uint8Array) => p.subarray(0, parsePackage(p).signedBytes);
  const coreSigned = new Uint8Array([...image.subarray(0, 16), ...image.subarray(CORE_IMAGE_HEADER_BYTES)]);
  const { deviceId, publicKey } = processor.identity();
  const want = new Uint8Array([
    0x57, 0x53, 0x41, 0x54, 1, 0, 3, 0, ...deviceId, ...nonce, ...await sha(coreSigned), ...await sha(signedOf(A1)), ...await sha(signedOf(B1)),
  ]);
  assert.equal(hex(statement), hex(want));
  const key = await subtle.importKey("raw", buf(publicKey), { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  assert.equal(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, buf(signature), buf(statement)), true);
  const altered = statement.slice();
  altered[40] ^= 1;
  assert.equal(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, buf(signature), buf(altered)), false);
  // The device id is the key id of the device's public key.
  const spki = new Uint8Array(await subtle.exportKey("spki", key));
  assert.equal(hex(deviceId), hex((await sha(spki)).subarray(0, 16)));
  // A stopped app's package is not measured as running; a wrong nonce length is refused.
  await dev.stop(ID_A);
  const again = await dev.attest(nonce);
  assert.equal(again.statement[6], 2);
  await assert.rejects(dev.attest(new Uint8Array(31)), /EINVAL/);
});

test("a processor that answers a check wrongly never gets a package admitted, its hash context is closed, and the next check works", async () => {
  const { link: real } = await trustedProcessor();
  const posted: number[] = [];
  const byId = new Map<number, number>();
  let mangle: ((cmd: number, frame: Uint8Array) => Uint8Array) | null = null;
  const link = {
    answer: null as ((frame: Uint8Array) => void) | null,
    post(frame: Uint8Array) {
      const cmd = frame[0] | (frame[1] << 8);
      posted.push(cmd);
      byId.set(frame[2] | (frame[3] << 8), cmd);
      real.post(frame);
    },
    endBoot: () => real.endBoot(),
  };
  real.answer = (frame) => link.answer?.(mangle ? mangle(byId.get(frame[0] | (frame[1] << 8)) ?? 0, frame) : frame);
  const dev = await FlashDevice.boot(await freshFlash(), { startApps: false, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link });
  const status = (s: number) => (cmd: number, f: Uint8Array) => cmd === 11 ? Uint8Array.of(f[0], f[1], s, 0, 0, 0, 0, 0) : f;
  mangle = status(6);
  assert.equal(await refusal(dev, A1), "image package: cannot be verified: the security processor answered status 6");
  mangle = (cmd, f) => (cmd === 11 ? (() => { const g = f.slice(0, f.length - 1); g[4] = 39; return g; })() : f);
  assert.equal(await refusal(dev, A1), "image package: cannot be verified: the security processor's answer is malformed");
  // An UPDATE refused: the core still closes the context (SHA256_FINAL) before it reports.
  posted.length = 0;
  mangle = (cmd, f) => (cmd === 3 ? Uint8Array.of(f[0], f[1], 3, 0, 0, 0, 0, 0) : f);
  assert.equal(await refusal(dev, A1), "image package: cannot be verified: the security processor answered status 3");
  assert.deepEqual(posted, [2, 3, 4]);
  assert.deepEqual(await dev.listInstalled(), []);
  mangle = null;
  assert.equal((await dev.deploy(A1)).name, "blink");
});
