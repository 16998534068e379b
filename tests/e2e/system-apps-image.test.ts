// The OS image's system apps come from the signed core image (SPEC.md, "Core image", format 2):
// a device booted through the boot loader runs the network manager and the update agent its image
// carries, not the tree's (proved with packages that differ from the tree's build: another quota,
// a module with a marker section); a byte flipped inside a system app package is refused by the
// signature and nothing starts; a signed table whose package is not what its entry names is
// refused; malformed tables are refused by the parser, each in one line; an OS update v1 -> v2
// whose v2 carries a changed network manager runs the new one after its trial, and a v3 whose
// trial fails rolls back to v2's.
import test from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as abi from "../../assembly/abi.js";
import {
  bootOs, parseCoreImage, parseCorePayload, signCoreImage, stageCoreUpdate, writeCoreImage,
  CORE_IMAGE_HEADER_BYTES, CORE_PAYLOAD_HEAD_BYTES, SYSTEM_APP_ENTRY_BYTES, type VerifiedCore,
} from "../../host/boot-loader.js";
import { packImage } from "../../host/apps/imagepkg.js";
import { CORE_WASM_PATH } from "../../host/core.js";
import { FlashDevice } from "../../host/device-flash.js";
import type { Flash } from "../../host/flash.js";
import { Network } from "../../host/net/network.js";
import { systemAppDir } from "../../host/net/system-apps.js";
import { RealClock } from "../../host/peripherals/clock.js";
import type { SecurityProcessorLink } from "../../host/pluton/link.js";
import { cache, freshFlash } from "../host/device-flash-support.js";
import { powerOn, processorStore } from "../host/os-update-support.js";
import { testSigner } from "../host/trust-support.js";
import { SYSTEM_PACKAGES } from "./ota-support.js";

const CORE = new Uint8Array(readFileSync(CORE_WASM_PATH));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const enc = new TextEncoder();

const treeModule = (name: string) => new Uint8Array(readFileSync(`${systemAppDir(name)}/build/${name}.wasm`));
const treeManifest = (name: string) => JSON.parse(readFileSync(`${systemAppDir(name)}/app_manifest.json`, "utf8")) as Record<string, unknown>;

/** `wasm` with a custom section named `mark` appended: the same code, other bytes. */
function marked(wasm: Uint8Array, mark: string): Uint8Array {
  const name = enc.encode(mark);
  const body = [name.length, ...name];
  return new Uint8Array([...wasm, 0, body.length, ...body]);
}

/** System app `name` as a package unlike the tree's: manifest fields `over`, module marked `mark`, a marker file. */
async function variant(name: string, over: Record<string, unknown>, mark: string): Promise<{ pkg: { name: string; bytes: Uint8Array }; module: Uint8Array }> {
  const manifest = { ...treeManifest(name), ...over };
  const module = marked(treeModule(name), mark);
  const bytes = await packImage({
    files: [
      { path: "app_manifest.json", bytes: enc.encode(JSON.stringify(manifest)) },
      { path: `${name}.wasm`, bytes: module },
      { path: "image-marker.txt", bytes: enc.encode(mark) },
    ],
    componentId: manifest.ComponentId as string, imageVersion: 1, buildTimeSeconds: 1764633600, name,
  }, true);
  return { pkg: { name, bytes }, module };
}

const NM_A = await variant("network-manager", { MemoryQuotaKiB: 128 }, "image-a");
const NM_B = await variant("network-manager", { MemoryQuotaKiB: 192 }, "image-b");
const AGENT_A = await variant("update-agent", { MemoryQuotaKiB: 192 }, "image-a");
/** An update agent whose quota is above the device's ceiling (256 KiB): its install fails, and so does a trial. */
const AGENT_TOO_BIG = await variant("update-agent", { MemoryQuotaKiB: 4096 }, "too-big");

/** The network manager and update agent installed on `dev`, as the device accounts for them. */
function systemApps(dev: FlashDevice) {
  const of = (n: string) => dev.device.installedApps().find((a) => a.name === n);
  const running = (n: string) => { const a = of(n); return a ? dev.device.core.exports.app_field(a.slot, abi.APP_FIELD_TASK) >= 0 : false; };
  return ["network-manager", "update-agent"].map((n) => ({ name: n, quotaKiB: (of(n)?.quotaBytes ?? 0) / 1024, sha: of(n)?.moduleSha256 ?? "", running: running(n) }));
}

/** The boot loader over `flash`, the device booted as `device boot` boots it, with the image's system apps and a feed. */
function bootWithSystemApps(flash: Flash, store: Awaited<ReturnType<typeof processorStore>>, started: { n: number }, network: Network) {
  return bootOs(flash, powerOn(store), async (core: VerifiedCore, link: SecurityProcessorLink) => {
    started.n++;
    return FlashDevice.boot(flash, {
      startApps: true, instrumentCache: cache, gpioPinCount: 96, securityProcessor: link, coreModule: core.module, clock: new RealClock(),
      network, systemApps: core.systemApps, networkManager: true, updateAgent: { feedUrl: "http://127.0.0.1:9/feed.json", pollSeconds: 60 },
    });
  });
}

const network = () => new Network({ resolve: async () => [] });

test("a device booted through the boot loader runs the network manager and update agent of its core image, not the tree's; the boot measurement covers them", async () => {
  const image = await signCoreImage(CORE, testSigner, 1, [NM_A.pkg, AGENT_A.pkg]);
  const flash = await freshFlash();
  writeCoreImage(flash, image);
  const store = await processorStore();
  const started = { n: 0 };
  const net = network();
  const os = await bootWithSystemApps(flash, store, started, net);
  const dev = os.booted;
  try {
    assert.notEqual(sha(NM_A.module), sha(treeModule("network-manager")));
    assert.deepEqual(systemApps(dev), [
      { name: "network-manager", quotaKiB: 128, sha: sha(NM_A.module), running: true },
      { name: "update-agent", quotaKiB: 192, sha: sha(AGENT_A.module), running: true },
    ]);
    assert.deepEqual(dev.bootReport.lines.filter((l) => l.startsWith("system app")), [
      'system app "network-manager": started',
      'system app "update-agent": started, feed http://127.0.0.1:9/feed.json',
    ]);
    // It runs: the image's network manager probes the host and logs what it found.
    const controller = new AbortController();
    const running = dev.device.run({ signal: controller.signal });
    const deadline = Date.now() + 15000;
    while (!dev.device.events.of("log").some((e) => e.app === "network-manager") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    await running;
    assert.match(dev.device.events.of("log").find((e) => e.app === "network-manager")?.text ?? "", /^networking (ready on |not ready)/);
    // The measurement is the digest of the signed bytes, system apps included: another package, another measurement.
    assert.equal(hex(os.core.digest), sha(parseCoreImage(image, "x").signed));
    const tree = await signCoreImage(CORE, testSigner, 1, SYSTEM_PACKAGES);
    assert.notEqual(sha(parseCoreImage(tree, "x").signed), hex(os.core.digest));
  } finally {
    dev.device.shutdown();
    net.closeAll();
  }
});

test("a byte flipped inside a system app package of the image is refused by the signature, and nothing starts; a signed entry naming another app's package is refused", async () => {
  const image = await signCoreImage(CORE, testSigner, 1, SYSTEM_PACKAGES);
  const table = parseCorePayload(parseCoreImage(image, "x").payload, "x");
  const agent = table.apps.find((a) => a.name === "update-agent")!;
  const flipped = image.slice();
  flipped[CORE_IMAGE_HEADER_BYTES + agent.offset + (agent.stored.length >> 1)] ^= 0x10;
  const flash = await freshFlash();
  writeCoreImage(flash, flipped);
  const store = await processorStore();
  const started = { n: 0 };
  await assert.rejects(bootWithSystemApps(flash, store, started, network()), {
    message: `secure boot: os-a: the core image's signature does not verify with trusted key ${hex(testSigner.keyId)} (altered after signing); not booted`,
  });
  assert.equal(started.n, 0);
  // Signed, but the entry "network-manager" holds the update agent's package: refused before any device boots.
  const swapped = await signCoreImage(CORE, testSigner, 1, [{ name: "network-manager", bytes: SYSTEM_PACKAGES[1].bytes }]);
  const flash2 = await freshFlash();
  writeCoreImage(flash2, swapped);
  await assert.rejects(bootWithSystemApps(flash2, store, started, network()), {
    message: 'secure boot: os-a: system app "network-manager": its package\'s manifest names it "update-agent"',
  });
  assert.equal(started.n, 0);
  // An image without a network manager boots no device that needs one (device boot always starts it).
  const none = await signCoreImage(CORE, testSigner, 1, []);
  const flash3 = await freshFlash();
  writeCoreImage(flash3, none);
  await assert.rejects(bootWithSystemApps(flash3, store, started, network()), {
    message: 'the OS image carries no system app "network-manager" (it carries none): sign the core with its system apps (wasphere core sign)',
  });
});

test("a signed table whose package does not inflate to the size its entry says is refused at boot", async () => {
  const image = await signCoreImage(CORE, testSigner, 1, SYSTEM_PACKAGES);
  const out = image.slice();
  const dv = new DataView(out.buffer);
  const e = CORE_IMAGE_HEADER_BYTES + CORE_PAYLOAD_HEAD_BYTES; // entry 0, network-manager
  const size = dv.getUint32(e + 40, true);
  dv.setUint32(e + 40, size + 1, true);
  out.set(await testSigner.sign(parseCoreImage(out, "x").signed), 32);
  const flash = await freshFlash();
  writeCoreImage(flash, out);
  await assert.rejects(bootWithSystemApps(flash, await processorStore(), { n: 0 }, network()), {
    message: `secure boot: os-a: the verified system app "network-manager"'s package inflates to ${size} bytes, not the ${size + 1} its table says`,
  });
});

test("the payload parser refuses each malformed table in one line", async () => {
  const good = parseCoreImage(await signCoreImage(CORE, testSigner, 1, SYSTEM_PACKAGES), "x").payload;
  const n = good.length;
  const t = parseCorePayload(good, "t");
  assert.deepEqual(t.apps.map((a) => [a.name, a.packageBytes]), SYSTEM_PACKAGES.map((p) => [p.name, p.bytes.length]));
  const coreEnd = CORE_PAYLOAD_HEAD_BYTES + 2 * SYSTEM_APP_ENTRY_BYTES + t.storedCore.length;
  assert.equal(t.apps[0].offset, coreEnd);
  const [nm, ua] = t.apps;
  const e0 = CORE_PAYLOAD_HEAD_BYTES, e1 = e0 + SYSTEM_APP_ENTRY_BYTES;
  const refusal = (edit: (p: Uint8Array, dv: DataView) => Uint8Array | void) => {
    const p = good.slice();
    const q = edit(p, new DataView(p.buffer)) ?? p;
    try { parseCorePayload(q, "t"); return "accepted"; } catch (err) { return (err as Error).message; }
  };
  assert.equal(refusal((p) => p.slice(0, 8)), "t: the payload is 8 bytes, shorter than its 12-byte head (truncated)");
  assert.equal(refusal((p) => p.slice(0, e1)), `t: the system app table's 2 entries end at byte ${e1 + SYSTEM_APP_ENTRY_BYTES}; the payload is ${e1} bytes (truncated)`);
  assert.equal(refusal((_, dv) => { dv.setUint16(8, 9, true); }), "t: the system app table holds 9 entries; at most 8");
  assert.equal(refusal((_, dv) => { dv.setUint16(10, 1, true); }), "t: payload bytes [10, 12) are reserved and must be 0");
  assert.equal(refusal((_, dv) => { dv.setUint32(4, 0, true); }), `t: the core is said to inflate to 0 bytes; 8 to ${8 << 20}`);
  assert.equal(refusal((_, dv) => { dv.setUint32(0, n, true); }), `t: the stored core [${e1 + SYSTEM_APP_ENTRY_BYTES}, ${e1 + SYSTEM_APP_ENTRY_BYTES + n}) does not fit the payload's ${n} bytes (truncated)`);
  assert.equal(refusal((p) => { p[e0] = 0x4e; }), "t: system app entry 0: its name is not 1 to 31 bytes of a-z, 0-9 and - followed by NULs");
  assert.equal(refusal((p) => { p.fill(0, e0, e0 + 32); }), "t: system app entry 0: its name is not 1 to 31 bytes of a-z, 0-9 and - followed by NULs");
  assert.equal(refusal((p) => { p.fill(0x61, e0, e0 + 32); }), "t: system app entry 0: its name is not 1 to 31 bytes of a-z, 0-9 and - followed by NULs");
  assert.equal(refusal((p) => { p.fill(0, e1, e1 + 32); p.set(enc.encode("network-manager"), e1); }), 't: system app "network-manager" is in the table twice (entries 0 and 1)');
  assert.equal(refusal((_, dv) => { dv.setUint32(e1 + 44, 7, true); }), 't: system app "update-agent": entry bytes [44, 48) are reserved and must be 0');
  assert.equal(refusal((_, dv) => { dv.setUint32(e1 + 40, abi.PKG_MAX_BYTES + 1, true); }), `t: system app "update-agent": its package is said to inflate to ${abi.PKG_MAX_BYTES + 1} bytes; 1 to ${abi.PKG_MAX_BYTES}`);
  assert.equal(refusal((_, dv) => { dv.setUint32(e0 + 32, 0, true); }), `t: system app "network-manager": its stored package [0, ${nm.stored.length}) is not inside the payload's package area [${coreEnd}, ${n})`);
  assert.equal(refusal((_, dv) => { dv.setUint32(e1 + 36, ua.stored.length + 1, true); }), `t: system app "update-agent": its stored package [${ua.offset}, ${n + 1}) is not inside the payload's package area [${coreEnd}, ${n})`);
  assert.equal(refusal((_, dv) => { dv.setUint32(e1 + 32, nm.offset + 1, true); dv.setUint32(e1 + 36, ua.stored.length - 1, true); }),
    `t: system app "update-agent": its stored package [${nm.offset + 1}, ${nm.offset + ua.stored.length}) overlaps "network-manager"'s [${nm.offset}, ${nm.offset + nm.stored.length})`);
  assert.equal(refusal((_, dv) => { dv.setUint32(e1 + 36, ua.stored.length - 1, true); }), `t: 1 of the payload's ${n} bytes belong to no section (the table, the core, a system app)`);
  // The header: format 1 (the core alone) is refused with what to do; another format, plainly.
  const image = await signCoreImage(CORE, testSigner, 1, SYSTEM_PACKAGES);
  const withFormat = (f: number) => { const x = image.slice(); new DataView(x.buffer).setUint16(4, f, true); return x; };
  assert.throws(() => parseCoreImage(withFormat(1), "os-a"), { message: "os-a: core image format 1 carries no system apps; this boot loader boots format 2 only (sign the core again: wasphere core sign)" });
  assert.throws(() => parseCoreImage(withFormat(3), "os-a"), { message: "os-a: core image format 3 is not 2" });
  // The signer bounds what it packs, too.
  await assert.rejects(signCoreImage(CORE, testSigner, 1, [SYSTEM_PACKAGES[0], SYSTEM_PACKAGES[0]]), { message: 'system app "network-manager" is given twice' });
  await assert.rejects(signCoreImage(CORE, testSigner, 1, Array.from({ length: 9 }, (_, i) => ({ name: `a${i}`, bytes: SYSTEM_PACKAGES[0].bytes }))), { message: "9 system apps; a core image carries at most 8" });
  await assert.rejects(signCoreImage(CORE, testSigner, 1, [{ name: "Net", bytes: SYSTEM_PACKAGES[0].bytes }]), { message: 'system app name "Net": must be 1 to 31 bytes of a-z, 0-9 and -' });
});

test("an OS update v1 -> v2 whose v2 carries a changed network manager runs it after the trial; a v3 whose trial fails rolls back to v2's", async () => {
  const v1 = await signCoreImage(CORE, testSigner, 1, SYSTEM_PACKAGES);
  const v2 = await signCoreImage(CORE, testSigner, 2, [NM_A.pkg, SYSTEM_PACKAGES[1]]);
  const v3 = await signCoreImage(CORE, testSigner, 3, [NM_B.pkg, AGENT_TOO_BIG.pkg]);
  const flash = await freshFlash();
  const store = await processorStore();
  writeCoreImage(flash, v1);
  const started = { n: 0 };
  const once = async () => {
    const net = network();
    const os = await bootWithSystemApps(flash, store, started, net);
    const apps = systemApps(os.booted);
    os.booted.device.shutdown();
    net.closeAll();
    return { slot: os.core.slot, version: os.core.image.version, lines: os.lines, apps };
  };
  const tree = (n: string) => sha(treeModule(n));
  const first = await once();
  assert.deepEqual([first.slot, first.version, first.apps.map((a) => [a.name, a.quotaKiB, a.sha, a.running])], ["os-a", 1, [
    ["network-manager", 64, tree("network-manager"), true], ["update-agent", 256, tree("update-agent"), true]]]);
  await stageCoreUpdate(flash, await powerOn(store)(), v2);
  const second = await once();
  assert.deepEqual([second.slot, second.version, second.lines, second.apps.map((a) => [a.name, a.quotaKiB, a.sha, a.running])], ["os-b", 2,
    ["os-b (v2) confirmed after its trial: the primary slot now; counter 0 advanced from 1 to 2"],
    [["network-manager", 128, sha(NM_A.module), true], ["update-agent", 256, tree("update-agent"), true]]]);
  await stageCoreUpdate(flash, await powerOn(store)(), v3);
  const third = await once();
  assert.deepEqual(third.lines, ["os-a (v3) failed its trial (system app update-agent (core image): app_manifest.json refused (EINVAL): MemoryQuotaKiB: must be a multiple of 64 from 64 to 256 (this device's ceiling), not 4096); rolled back to os-b (v2)"]);
  assert.deepEqual([third.slot, third.version, third.apps.map((a) => [a.name, a.quotaKiB, a.sha, a.running])], ["os-b", 2,
    [["network-manager", 128, sha(NM_A.module), true], ["update-agent", 256, tree("update-agent"), true]]]);
  // Every boot started one device through the boot loader, the failed trial's included.
  assert.equal(started.n, 4);
});
