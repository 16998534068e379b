// The device on flash (host/device-flash.ts over the core's installed-app list, appmgr/store.ts):
// deploy, replace, delete and list, each surviving a reboot from the same flash bytes; and each
// refusal a one-line error that loses nothing installed.
import test from "node:test";
import assert from "node:assert/strict";
import { ControlError } from "../../host/device-control.js";
import { ID_A, ID_B, ID_C, MODULE, boot, freshFlash, installed, manifestOf, pkg, rawPkg } from "./device-flash-support.js";
import { signedRaw } from "./trust-support.js";
import type { FlashDevice } from "../../host/device-flash.js";

const A1 = await pkg("blink", ID_A, [8]);
const A2 = await pkg("blink", ID_A, [8], { version: 2 });
const B1 = await pkg("button", ID_B, [12]);

async function refusal(dev: FlashDevice, bytes: Uint8Array): Promise<string> {
  try { await dev.deploy(bytes); } catch (err) {
    assert.ok(err instanceof ControlError, String(err));
    assert.equal(err.code, "refused");
    assert.doesNotMatch(err.message, /[\n\r]/);
    return err.message;
  }
  assert.fail("deployed");
}

test("deploy, replace, delete and list, each as the next boot from the same flash finds it", async () => {
  const flash = await freshFlash();
  let dev = await boot(flash);
  assert.deepEqual(await installed(dev), []);
  const a = await dev.deploy(A1);
  assert.equal(a.replaced, false);
  assert.equal(a.componentId, ID_A);
  assert.equal(a.packageBytes, A1.length);
  // The first fit of an empty apps partition: its first block (after the table, in the layout).
  assert.equal(a.offsetBytes, 4096 + 2 * (2 * 1024 * 1024 / 16));
  const b = await dev.deploy(B1);
  assert.equal(b.offsetBytes, a.offsetBytes + Math.ceil(A1.length / 4096) * 4096);
  assert.deepEqual(await installed(dev), ["blink@1", "button@1"]);
  assert.deepEqual(await installed(await boot(flash.clone())), ["blink@1", "button@1"]);

  const oldApp = dev.device.installedApps().find((x) => x.componentId === ID_A)!;
  const r = await dev.deploy(A2);
  // The host took the new package's module from the core (the slot may be the same one).
  const newApp = dev.device.installedApps().find((x) => x.componentId === ID_A)!;
  assert.notEqual(newApp, oldApp);
  assert.equal(dev.device.installedApps().length, 2);
  assert.equal(r.replaced, true);
  assert.equal(r.version, 2);
  // The new package went where neither committed one lies; the list keeps its order.
  assert.equal(r.offsetBytes, b.offsetBytes + Math.ceil(B1.length / 4096) * 4096);
  assert.deepEqual(await installed(dev), ["blink@2", "button@1"]);
  dev = await boot(flash.clone());
  assert.deepEqual(await installed(dev), ["blink@2", "button@1"]);
  assert.equal(dev.bootReport.refused, 0);
  assert.equal(dev.bootReport.mounted, 2);

  await dev.remove(ID_A);
  assert.deepEqual(await installed(dev), ["button@1"]);
  await assert.rejects(dev.remove(ID_A), { code: "not-installed" });
  // The freed extent (blink@2's) is reused by the next deploy, first fit.
  const c = await dev.deploy(await pkg("third", ID_C, [20]));
  assert.equal(c.offsetBytes, a.offsetBytes);
  const again = await boot(dev.device.flash!.clone());
  assert.deepEqual(await installed(again), ["button@1", "third@1"]);
  // The module comes from the package, through the core.
  const st = await again.status(ID_B);
  assert.deepEqual(st, { componentId: ID_B, name: "button", state: "stopped", crashes: 0, restarts: 0 });
});

test("refused, each in one line, and nothing installed is lost", async () => {
  const flash = await freshFlash();
  const dev = await boot(flash);
  await dev.deploy(A1);
  await dev.deploy(B1);
  const before = await installed(dev);
  const check = async () => {
    assert.deepEqual(await installed(dev), before);
    assert.deepEqual(await installed(await boot(flash.clone())), before);
  };
  // Corrupt: a flipped byte in the littlefs image.
  const corrupt = A2.slice(); corrupt[600] ^= 0x10;
  assert.equal(await refusal(dev, corrupt), "image package: littlefs image: CRC-32 does not match the FILESYSTEM section's (damaged)");
  await check();
  // Truncated.
  assert.match(await refusal(dev, A2.subarray(0, A2.length - 5)), /^image package: trailer: /);
  await check();
  // Oversized: refused before a byte is written.
  assert.equal(await refusal(dev, new Uint8Array(2 * 1024 * 1024 + 1)), "deploy: the package is 2097153 bytes; the limit is 2097152 (PKG_MAX_BYTES)");
  await check();
  // A bad manifest inside.
  assert.equal(await refusal(dev, await pkg("bad", ID_C, [100])),
    "image package: app_manifest.json: Capabilities.Gpio[0]: pin 100 does not exist on this device (pins 0..95)");
  assert.equal(await refusal(dev, await rawPkg([{ path: "app_manifest.json", bytes: new TextEncoder().encode("{\"SchemaVersion\": 1,") }, { path: "blink.wasm", bytes: MODULE }], ID_C, "bad")),
    "image package: app_manifest.json: manifest: invalid JSON at byte 20 (the end of the file): expected a field name in double quotes");
  await check();
  assert.equal(await refusal(dev, await rawPkg([{ path: "app_manifest.json", bytes: manifestOf("noentry", ID_C, [30]) }], ID_C, "noentry")),
    'image package: EntryPoint "blink.wasm" is not a file of the package');
  await check();
  // A pin another installed app owns.
  assert.equal(await refusal(dev, await pkg("thief", ID_C, [12])),
    'image package: app_manifest.json: Capabilities.Gpio: pin 12 is owned by "button", which is installed');
  await check();
  // A replacement refused leaves the old one installed and admitted.
  assert.equal(await refusal(dev, await pkg("blink", ID_A, [12], { version: 5 })),
    'image package: app_manifest.json: Capabilities.Gpio: pin 12 is owned by "button", which is installed');
  await check();
  assert.equal((await dev.status(ID_A)).name, "blink");
  // The manifest's ComponentId is not the package's.
  assert.equal(await refusal(dev, await rawPkg([{ path: "app_manifest.json", bytes: manifestOf("liar", "00000000-0000-0000-0000-0000000000aa", [30]) }, { path: "blink.wasm", bytes: MODULE }], ID_C, "liar")),
    "image package: app_manifest.json: its ComponentId is not the package's (IDENTITY section)");
  await check();
});

test("damaged littlefs inside a package: refused at deploy; at boot that package alone is refused", async () => {
  const flash = await freshFlash();
  const dev = await boot(flash);
  // Both superblocks zeroed and the CRCs made to match: only mounting finds it.
  const { metadataFor, buildFsImage } = await import("../../host/apps/imagepkg.js");
  const image = await buildFsImage([{ path: "app_manifest.json", bytes: manifestOf("dmg", ID_C, [40]) }, { path: "blink.wasm", bytes: MODULE }]);
  image.fill(0, 0, 1024);
  const meta = metadataFor(image, 512, { componentId: ID_C, imageVersion: 1, buildTimeSeconds: 0, name: "dmg" });
  const damaged = new Uint8Array(image.length + meta.length); damaged.set(image); damaged.set(meta, image.length);
  assert.match(await refusal(dev, await signedRaw(damaged)), /^image package: littlefs image: cannot be mounted \(littlefs error -84\)$/);
  await dev.deploy(A1);
  await dev.deploy(B1);
  // Damage blink's package where it lies: the next boot refuses it and runs button.
  const blink = (await dev.listInstalled()).find((x) => x.componentId === ID_A)!;
  const hurt = flash.clone();
  hurt.bytes[blink.offsetBytes + 700] ^= 0x01;
  const rebooted = await boot(hurt, true);
  assert.equal(rebooted.bootReport.refused, 1);
  assert.equal(rebooted.bootReport.started, 1);
  assert.ok(rebooted.bootReport.lines.includes(`package ${ID_A}: refused, not started: image package: littlefs image: CRC-32 does not match the FILESYSTEM section's (damaged)`), rebooted.bootReport.lines.join("\n"));
  assert.equal((await rebooted.status(ID_B)).state, "running");
  await assert.rejects(rebooted.status(ID_A), { code: "unavailable" });
  assert.ok(rebooted.device.audit().some((x) => x.kind === 11 && x.arg === 0 && x.result === -5 - 79), "EV_INSTALL_REFUSED of entry 0, -ECORRUPT");
});

test("a full apps partition is a clear refusal and loses nothing", async () => {
  const flash = await freshFlash();
  const dev = await boot(flash);
  // 300 KiB of incompressible data per package: the 2 MiB device's apps partition holds three.
  const big = (seed: number) => [{ path: "data.bin", bytes: Uint8Array.from({ length: 300 * 1024 }, (_, i) => (Math.imul(i + seed, 2654435761) >>> 13) & 0xff) }];
  await dev.deploy(await pkg("p1", ID_A, [1], { extra: big(1) }));
  await dev.deploy(await pkg("p2", ID_B, [2], { extra: big(2) }));
  await dev.deploy(await pkg("p3", ID_C, [3], { extra: big(3) }));
  const before = await installed(dev);
  const msg = await refusal(dev, await pkg("p4", "7a1c3e5f-2b4d-4a6c-8e0f-1a3b5c7d9e2f", [4], { extra: big(4) }));
  assert.match(msg, /^apps partition: full: the package needs \d+ blocks of 4096 bytes and no free run is that long \(\d+ of 255 blocks free\)$/);
  assert.deepEqual(await installed(dev), before);
  assert.deepEqual(await installed(await boot(flash.clone())), before);
});

test("a booted device: deploy and replace start the new app, stop and start work, delete stops it", async () => {
  const flash = await freshFlash();
  await (await boot(flash)).deploy(A1);
  const dev = await boot(flash, true);
  assert.deepEqual(dev.bootReport.lines.slice(-1), ['app "blink": started']);
  await dev.device.run({ maxSlices: 4 });
  assert.equal((await dev.status(ID_A)).state, "running");
  await dev.deploy(B1);
  assert.equal((await dev.status(ID_B)).state, "running");
  await dev.deploy(A2);
  const st = await dev.status(ID_A);
  assert.equal(st.state, "running");
  assert.equal((await dev.listInstalled()).find((x) => x.componentId === ID_A)!.version, 2);
  await dev.device.run({ maxSlices: 8 });
  assert.equal((await dev.stop(ID_A)).state, "stopped");
  assert.equal((await dev.start(ID_A)).state, "running");
  const mem = await dev.memoryStats(ID_A);
  assert.equal(mem.quotaBytes, 128 * 1024);
  await dev.remove(ID_B);
  await assert.rejects(dev.status(ID_B), { code: "not-installed" });
  await dev.device.run({ maxSlices: 8 });
  // What ran last is what the next boot starts.
  const again = await boot(flash.clone(), true);
  assert.deepEqual(again.bootReport.lines.filter((l) => l.startsWith("app ")), ['app "blink": started']);
  assert.equal((await again.listInstalled())[0].version, 2);
});
