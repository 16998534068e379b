// `device boot` gives its apps the device's security processor (host/pluton/): an app's
// random_bytes and sha256 are answered, and the processor's key lives in DEV/pluton.json (mode
// 0600), the same across boots.
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, readFileSync, statSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTrustedDevice, signed } from "../host/trust-support.js";
import { openStoppedDevice } from "../../host/device-offline.js";
import { bootDevice } from "../../host/device-boot.js";
import { packDirectory } from "../../host/imagepkg-cli.js";

const RANDOM_APP = fileURLToPath(new URL("../../../tests/apps/random", import.meta.url));

test("device boot answers an app's random_bytes and sha256 from the device's security processor, whose key persists in pluton.json", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "wasphere-pluton-"));
  try {
    const dev = join(tmp, "dev");
    await createTrustedDevice(dev, 2 * 1024 * 1024, 16);
    const app = join(tmp, "random");
    mkdirSync(app);
    copyFileSync(join(RANDOM_APP, "main.ts"), join(app, "main.ts"));
    writeFileSync(join(app, "app_manifest.json"), JSON.stringify({
      SchemaVersion: 1, Name: "random", ComponentId: "4e1b2c3d-5f60-4718-9a2b-3c4d5e6f7a8b", EntryPoint: "random.wasm", Capabilities: {}, MemoryQuotaKiB: 64,
    }));
    const { bytes } = await packDirectory(app);
    const stopped = await openStoppedDevice(dev);
    await stopped.deploy(await signed(bytes));
    await stopped.close();
    const lines: string[] = [];
    await bootDevice(dev, { seconds: 1, quiet: true }, (l) => lines.push(l));
    const logs = lines.filter((l) => l.includes("random: "));
    assert.match(logs[0] ?? "", /random: got 600 [0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{8}$/, lines.join("\n"));
    assert.match(logs[1] ?? "", /random: sha256 32 [0-9a-f]{64}$/);
    assert.ok(lines.some((l) => /random: exited \(code 0\)/.test(l)), lines.join("\n"));
    const store = join(dev, "pluton.json");
    assert.equal(statSync(store).mode & 0o777, 0o600);
    const key = JSON.parse(readFileSync(store, "utf8")).devicePkcs8;
    await bootDevice(dev, { seconds: 0.2, quiet: true }, () => {});
    assert.equal(JSON.parse(readFileSync(store, "utf8")).devicePkcs8, key, "the device key is the same after a reboot");
  } finally { rmSync(tmp, { recursive: true, force: true }); }
});
