// `wasphere device create | show` as a user runs them: the folder's two files, show in text and
// JSON, a file written to the data partition shows up, refusals as one line and exit 1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Flash } from "../../host/flash.js";
import { LittleFs } from "../../host/fs/littlefs.js";
import { dataFsConfig, partitionFlash, readTable } from "../../host/flash-layout.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const wasphere = (...args: string[]) => spawnSync(process.execPath, ["bin/wasphere.js", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
const tmp = mkdtempSync(join(tmpdir(), "wasphere-device-"));

test("create makes flash.bin (table written, data formatted) and hardware-definition.json; show prints them", async () => {
  const dev = join(tmp, "dev");
  const r = wasphere("device", "create", dev, "--flash-size", "4MiB", "--pins", "12");
  assert.equal(r.status, 0, r.stderr);
  // No --trust: a development device with a key of its own, the build's core signed with it in os-a.
  assert.match(r.stdout, new RegExp(`^${dev}: 4 MiB flash, 5 partitions, 12 GPIO pins\n`
    + `no --trust given: a development device: key [0-9a-f]{32} \\(${dev}/development-key\\.pem\\) is trusted for the OS and apps; sign packages with --sign ${dev}/development-key\\.pem\n`
    + `os-a: the build's core and system apps, signed with it\ndevice [0-9a-f]{32}: development mode\n$`));
  assert.equal(statSync(join(dev, "development-key.pem")).mode & 0o777, 0o600);
  const osA = [...readFileSync(join(dev, "flash.bin")).subarray(0x1000, 0x41000)].filter((b) => b !== 0xff).length;
  assert.equal(statSync(join(dev, "flash.bin")).size, 4 * 1024 * 1024);
  const hw = JSON.parse(readFileSync(join(dev, "hardware-definition.json"), "utf8"));
  assert.equal(hw.Peripherals.filter((p: { Type: string }) => p.Type === "Gpio").length, 12);

  const shown = wasphere("device", "show", dev);
  assert.equal(shown.status, 0, shown.stderr);
  assert.equal(shown.stdout, [
    `Device ${dev}`,
    "Flash: 4 MiB, 1024 erase blocks of 4096 bytes (NOR: erased bytes read 0xff)",
    "Hardware: wasphere device (12 GPIO pins, 4 MiB flash)",
    "  GPIO pins: 12",
    "  Uart: ISU0_UART, ISU1_UART, ISU2_UART, ISU3_UART, ISU4_UART",
    "  I2cMaster: ISU0_I2C, ISU1_I2C, ISU2_I2C, ISU3_I2C, ISU4_I2C",
    "  SpiMaster: ISU0_SPI, ISU1_SPI, ISU2_SPI, ISU3_SPI, ISU4_SPI",
    "  Adc: ADC_CONTROLLER0",
    "  Pwm: PWM_CONTROLLER0",
    "Partitions:",
    "  name     offset     size       holds",
    "  table    0x00000000 4 KiB      the partition table",
    `  os-a     0x00001000 256 KiB    ${osA} bytes programmed (OS: core image v1, factory slot; primary, boots next; boot state none)`,
    "  os-b     0x00041000 256 KiB    erased (OS: no core image; not primary; boot state none)",
    "  apps     0x00081000 2044 KiB   erased",
    "  staging  0x00280000 512 KiB    erased",
    "  data     0x00300000 1 MiB      littlefs 2.1, 2 of 256 blocks of 4096 bytes in use, 0 files, 0 directories",
    "",
  ].join("\n"));

  // Write a file into the data partition and a byte into os-b: show reports both.
  const bytes = new Uint8Array(readFileSync(join(dev, "flash.bin")));
  const flash = new Flash({ blockSizeBytes: 4096, blockCount: 1024 }, bytes);
  const data = readTable(flash).find((p) => p.name === "data")!;
  const part = partitionFlash(flash, data);
  const lfs = LittleFs.mount(part, dataFsConfig(data));
  lfs.mkdir("/counter");
  lfs.writeFile("/counter/boots", new TextEncoder().encode("3"));
  lfs.unmount();
  bytes.set(part.bytes, data.offsetBytes);
  bytes[0x41000 + 10] = 0;
  writeFileSync(join(dev, "flash.bin"), bytes);
  const j = JSON.parse(wasphere("device", "show", dev, "--json").stdout);
  assert.deepEqual(j.flash, { sizeBytes: 4194304, eraseBlockBytes: 4096, blockCount: 1024 });
  assert.deepEqual(j.partitions.map((p: { name: string; holds: unknown }) => [p.name, p.holds]), [
    ["os-a", { erased: false, programmedBytes: osA }], ["os-b", { erased: false, programmedBytes: 1 }], ["apps", { erased: true }], ["staging", { erased: true }],
    ["data", { littlefs: { version: "2.1", blockSizeBytes: 4096, blockCount: 256, blocksInUse: j.partitions[4].holds.littlefs.blocksInUse, files: 1, directories: 1, bytes: 1 } }],
  ]);
  assert.equal(j.hardware.gpioPins, 12);
});

test("show says which OS slot is primary and which is pending as the boot state has it, with the same slot objects as update status --json", () => {
  const dev = join(tmp, "dev-os");
  assert.equal(wasphere("device", "create", dev, "--flash-size", "2MiB", "--pins", "16").status, 0);
  const osLines = () => { const r = wasphere("device", "show", dev); assert.equal(r.status, 0, r.stderr); return r.stdout.split("\n").filter((l) => l.startsWith("  os-")).map((l) => l.replace(/ \d+ bytes programmed/, " N bytes programmed")); };
  const consistent = () => {
    const shown = JSON.parse(wasphere("device", "show", dev, "--json").stdout);
    const status = JSON.parse(wasphere("device", "update", "status", dev, "--json").stdout);
    assert.deepEqual(shown.partitions.filter((p: { os?: unknown }) => p.os).map((p: { os: unknown }) => p.os), status.slots);
    assert.equal(shown.partitions.find((p: { os?: { primary: boolean } }) => p.os?.primary).name, status.primary);
    assert.ok(shown.partitions.every((p: { active?: unknown }) => !("active" in p)), "no field says active");
  };
  const v2 = join(tmp, "dev-os-v2.img");
  assert.equal(wasphere("core", "sign", "--key", join(dev, "development-key.pem"), "--version", "2", "--output", v2).status, 0);
  assert.equal(wasphere("device", "update-core", dev, v2).status, 0);
  assert.deepEqual(osLines(), [
    "  os-a     0x00001000 128 KiB    N bytes programmed (OS: core image v1, factory slot; primary, boots if os-b's trial fails; boot state none)",
    "  os-b     0x00021000 128 KiB    N bytes programmed (OS: core image v2; pending: the next boot tries it; boot state pending, sequence 1)",
  ]);
  consistent();
  const booted = wasphere("device", "boot", dev, "--seconds", "0.1");
  assert.equal(booted.status, 0, booted.stderr);
  assert.match(booted.stdout, /\nboot: os-b \(v2\) confirmed after its trial: the primary slot now; counter 0 advanced from 0 to 2\n/);
  // os-b booted and is primary; os-a is still the table's factory slot, and no longer what boots.
  assert.deepEqual(osLines(), [
    "  os-a     0x00001000 128 KiB    N bytes programmed (OS: core image v1, factory slot; not primary; boot state none)",
    "  os-b     0x00021000 128 KiB    N bytes programmed (OS: core image v2; primary, boots next; boot state confirmed, sequence 1)",
  ]);
  consistent();
});

test("refusals: one line, exit 1", () => {
  const dev = join(tmp, "dev2");
  assert.equal(wasphere("device", "create", dev, "--flash-size", "2MiB").status, 0);
  const again = wasphere("device", "create", dev);
  assert.deepEqual([again.status, again.stderr], [1, `wasphere: ${dev}: exists and is not empty; a device is created in a new folder\n`]);
  const odd = wasphere("device", "create", join(tmp, "odd"), "--flash-size", "3MiB");
  assert.deepEqual([odd.status, odd.stderr], [1, "wasphere: flash size 3145728 bytes: must be a power of two from 2 MiB to 256 MiB\n"]);
  const flash = readFileSync(join(dev, "flash.bin"));
  flash[20] ^= 1;
  writeFileSync(join(dev, "flash.bin"), flash);
  const bad = wasphere("device", "show", dev);
  assert.deepEqual([bad.status, bad.stderr], [1, `wasphere: ${join(dev, "flash.bin")}: partition table: CRC: CRC-32 does not match (damaged table)\n`]);
  const empty = join(tmp, "empty");
  mkdirSync(empty);
  const none = wasphere("device", "show", empty);
  assert.deepEqual([none.status, none.stderr], [1, `wasphere: ${empty}: no flash.bin (not a device folder; make one with \`wasphere device create\`)\n`]);
});
