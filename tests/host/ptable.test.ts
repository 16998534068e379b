// The flash layout (SPEC.md, "Flash layout"): the table bytes the host writes, decoded here from
// SPEC.md's offsets with node's zlib CRC, read back by the core's ptable_parse; each malformed
// field refused with a message naming it; the data partition a littlefs the independent reader
// reads; the hardware definition's schema.
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import * as abi from "../../assembly/abi.js";
import { Flash } from "../../host/flash.js";
import { boardSpecsOf, checkHardwareDefinition, createFlash, encodeTable, hardwareDefinition, planLayout, readTable, type Partition } from "../../host/flash-layout.js";
import { defaultBoardSpecs } from "../../host/peripherals/board.js";
import { RefReader } from "./lfs-ref-reader.js";

const MIB = 1024 * 1024;
const B = 4096;

test("the 16 MiB layout: every entry where SPEC.md puts it, read back by the core", async () => {
  const { flash, partitions } = await createFlash(16 * MIB);
  assert.deepEqual(partitions.map((p) => [p.name, p.type, p.flags, p.offsetBytes, p.sizeBytes]), [
    ["os-a", 1, 1, 0x1000, MIB],
    ["os-b", 2, 0, 0x101000, MIB],
    ["apps", 3, 0, 0x201000, 8 * MIB - B],
    ["staging", 4, 0, 0xa00000, 2 * MIB],
    ["data", 5, 0, 0xc00000, 4 * MIB],
  ]);
  const t = flash.bytes;
  const dv = new DataView(t.buffer);
  assert.equal(Buffer.from(t.subarray(0, 4)).toString("latin1"), "WSPT");
  assert.deepEqual([dv.getUint16(4, true), dv.getUint16(6, true), dv.getUint32(8, true), dv.getUint32(12, true)], [1, 5, 4096, 4096]);
  for (let i = 0; i < 5; i++) {
    const at = 16 + 16 * i;
    const p = partitions[i];
    assert.deepEqual([dv.getUint16(at, true), dv.getUint16(at + 2, true), dv.getUint32(at + 4, true), dv.getUint32(at + 8, true), dv.getUint32(at + 12, true)], [p.type, p.flags, p.offsetBytes, p.sizeBytes, 0]);
  }
  assert.equal(dv.getUint32(96, true), zlibCrc32(t.subarray(0, 96)));
  assert.ok(t.subarray(100, B).every((b) => b === 0xff), "the rest of block 0 is erased");
  assert.ok(t.subarray(B, 0xc00000).every((b) => b === 0xff), "the OS slots, app area and staging are erased");
  assert.deepEqual(readTable(flash), partitions);
  // The data partition is a littlefs an independent reader reads: empty, with block_count 1024.
  const data = t.subarray(0xc00000);
  assert.deepEqual(new RefReader(data, B, 1024).listing().tree, []);
  assert.deepEqual(new RefReader(data, B, 1024).faults(true), []);
});

test("layouts scale with the flash size; sizes outside 2..256 MiB or not a power of two are refused", () => {
  for (const size of [2 * MIB, 32 * MIB, 256 * MIB]) {
    const parts = planLayout(size);
    assert.equal(parts.reduce((n, p) => n + p.sizeBytes, B), size);
    const flash = new Flash({ blockSizeBytes: B, blockCount: 2 });
    // The table parser checks against the device it reads: a copy of block 0 on a device of that size.
    const big = new Flash({ blockSizeBytes: B, blockCount: size / B });
    big.bytes.set(encodeTable(parts, size));
    assert.deepEqual(readTable(big), parts);
    void flash;
  }
  for (const bad of [MIB, 3 * MIB, 512 * MIB]) assert.throws(() => planLayout(bad), { message: `flash size ${bad} bytes: must be a power of two from 2 MiB to 256 MiB` });
});

/** A 2 MiB device whose table is `parts`, CRC recomputed after `edit` (so the edit reaches the field checks). */
function device(parts: Partition[], edit: (t: DataView) => void = () => {}, reseal = true): Flash {
  const size = 2 * MIB;
  const t = encodeTable(parts, size);
  const dv = new DataView(t.buffer);
  edit(dv);
  const count = dv.getUint16(6, true);
  if (reseal && count <= 16) dv.setUint32(16 + 16 * count, zlibCrc32(t.subarray(0, 16 + 16 * count)), true);
  const flash = new Flash({ blockSizeBytes: B, blockCount: size / B });
  flash.bytes.set(t);
  return flash;
}
const base = planLayout(2 * MIB);
const refused = (flash: Flash) => { try { readTable(flash); } catch (err) { return (err as Error).message; } assert.fail("accepted"); };
const entry = (i: number, field: number) => 16 + 16 * i + field;

test("refused: the header (magic, version, count, geometry) and the CRC", () => {
  assert.equal(refused(new Flash({ blockSizeBytes: B, blockCount: 512 })), "partition table: header: bad magic (block 0 holds no partition table)");
  assert.equal(refused(device(base, (t) => t.setUint16(4, 2, true))), "partition table: header: version 2 is not 1");
  assert.equal(refused(device(base, (t) => t.setUint16(6, 0, true))), "partition table: header: entry count 0 is outside 1..16");
  assert.equal(refused(device(base, (t) => t.setUint16(6, 17, true))), "partition table: header: entry count 17 is outside 1..16");
  assert.equal(refused(device(base, (t) => t.setUint32(8, 8192, true))), "partition table: header: erase block size 8192 is not this device's");
  assert.equal(refused(device(base, (t) => t.setUint32(12, 1024, true))), "partition table: header: block count 1024 is not this device's");
  assert.equal(refused(device(base, (t) => t.setUint32(entry(0, 4), 8192, true), false)), "partition table: CRC: CRC-32 does not match (damaged table)");
});

test("refused: each entry's fields, and the set of partitions", () => {
  const e = (i: number, f: number, v: number, size: 2 | 4 = 4) => device(base, (t) => (size === 2 ? t.setUint16(entry(i, f), v, true) : t.setUint32(entry(i, f), v, true)));
  assert.equal(refused(e(0, 0, 9, 2)), "partition table: entry 0 (unknown): unknown partition type");
  assert.equal(refused(e(1, 0, 1, 2)), "partition table: entry 1 (os-a): a second partition of this type");
  assert.equal(refused(e(2, 2, 1, 2)), "partition table: entry 2 (apps): flags hold a bit this type does not define");
  assert.equal(refused(e(0, 2, 3, 2)), "partition table: entry 0 (os-a): flags hold a bit this type does not define");
  assert.equal(refused(e(3, 12, 1)), "partition table: entry 3 (staging): reserved bytes are not zero");
  assert.equal(refused(e(4, 8, 0)), "partition table: entry 4 (data): is empty");
  assert.equal(refused(e(4, 4, base[4].offsetBytes + 1)), "partition table: entry 4 (data): offset or size is not a whole number of erase blocks");
  assert.equal(refused(e(0, 4, 0)), "partition table: entry 0 (os-a): overlaps the table in block 0");
  assert.equal(refused(e(4, 8, base[4].sizeBytes + B)), "partition table: entry 4 (data): ends past the end of the device");
  assert.equal(refused(e(4, 4, 0xfffff000)), "partition table: entry 4 (data): ends past the end of the device");
  assert.equal(refused(e(1, 4, base[0].offsetBytes + B)), "partition table: entry 1 (os-b): overlaps entry 0");
  assert.equal(refused(device(base.slice(0, 4), (t) => t.setUint16(6, 4, true))), "partition table: entries: no data partition");
  assert.equal(refused(e(1, 2, 1, 2)), "partition table: entries: 2 OS slots are marked active; exactly one must be");
  assert.equal(refused(e(0, 2, 0, 2)), "partition table: entries: 0 OS slots are marked active; exactly one must be");
  // Slot B active instead of A is a valid table (what an A/B update leaves behind).
  const swapped = base.map((p) => ({ ...p, flags: p.name === "os-b" ? 1 : 0 }));
  assert.deepEqual(readTable(device(swapped)), swapped);
});

test("the hardware definition: Azure Sphere's shape, GPIOs named GPIO0.. in order, ISUs by function", () => {
  const hw = hardwareDefinition("d", 3);
  assert.deepEqual(hw.Metadata, { Type: "Azure Sphere Hardware Definition", Version: 1 });
  assert.deepEqual(hw.Peripherals.slice(0, 4), [
    { Name: "GPIO0", Type: "Gpio", AppManifestValue: 0 },
    { Name: "GPIO1", Type: "Gpio", AppManifestValue: 1 },
    { Name: "GPIO2", Type: "Gpio", AppManifestValue: 2 },
    // A 3-pin device has none of the pins ISU0 muxes on a full one.
    { Name: "ISU0_UART", Type: "Uart", AppManifestValue: "ISU0", Pins: [] },
  ]);
  assert.equal(checkHardwareDefinition(hw, "hw").pins, 3);
  // A full device: each ISU once per function with its five pins; the controllers with their channels.
  const full = hardwareDefinition("d", 96).Peripherals.filter((p) => p.Type !== "Gpio");
  assert.deepEqual(full.slice(0, 3), [
    { Name: "ISU0_UART", Type: "Uart", AppManifestValue: "ISU0", Pins: [26, 27, 28, 29, 30] },
    { Name: "ISU0_I2C", Type: "I2cMaster", AppManifestValue: "ISU0", Pins: [26, 27, 28, 29, 30] },
    { Name: "ISU0_SPI", Type: "SpiMaster", AppManifestValue: "ISU0", Pins: [26, 27, 28, 29, 30] },
  ]);
  assert.deepEqual(full.slice(-2), [
    { Name: "ADC_CONTROLLER0", Type: "Adc", AppManifestValue: "ADC-CONTROLLER-0", Pins: [41, 42, 43, 44, 45, 46, 47, 48], Channels: 8 },
    { Name: "PWM_CONTROLLER0", Type: "Pwm", AppManifestValue: "PWM-CONTROLLER-0", Pins: [0, 1, 2, 3], Channels: 4 },
  ]);
  // Read back, the definition is the board it was written from: ids in order, functions joined.
  assert.deepEqual(boardSpecsOf(full, "hw"), defaultBoardSpecs(96));
  const specsBroken = (entries: unknown[]) => { try { boardSpecsOf(entries as never, "hw"); } catch (err) { return (err as Error).message; } return "accepted"; };
  assert.equal(specsBroken([{ Name: "X", Type: "Can", AppManifestValue: "X" }]), 'hw: Peripherals[0] (X): Type "Can" is none of Gpio, Uart, I2cMaster, SpiMaster, Adc, Pwm');
  assert.equal(specsBroken([{ Name: "A", Type: "Uart", AppManifestValue: "I", Pins: [1] }, { Name: "B", Type: "SpiMaster", AppManifestValue: "I", Pins: [2] }]), "hw: Peripherals[1] (B): interface I has other Pins in an earlier entry");
  assert.equal(specsBroken([{ Name: "A", Type: "Uart", AppManifestValue: "I", Pins: [200] }]), "hw: Peripherals[0] (A): Pins must be an array of pin numbers");
  assert.equal(specsBroken(Array.from({ length: 17 }, (_, i) => ({ Name: `U${i}`, Type: "Uart", AppManifestValue: `U${i}` }))), "hw: 17 interfaces; the core supports at most 16");
  const broken = (edit: (h: any) => void) => { const h = structuredClone(hw) as any; edit(h); try { checkHardwareDefinition(h, "hw"); } catch (err) { return (err as Error).message; } return "accepted"; };
  assert.equal(broken((h) => { h.Metadata.Version = 2; }), 'hw: Metadata must be {"Type": "Azure Sphere Hardware Definition", "Version": 1}');
  assert.equal(broken((h) => { h.Peripherals[1].AppManifestValue = 5; }), "hw: Peripherals[1] (GPIO1): GPIO pins are numbered 0 up in order; expected 1");
  assert.equal(broken((h) => { h.Peripherals[2].Name = "GPIO0"; }), "hw: Peripherals[2].Name GPIO0 appears twice");
  assert.equal(broken((h) => { h.Peripherals[0].Name = "a b"; }), "hw: Peripherals[0].Name must be an identifier of at most 64 characters");
  assert.equal(broken((h) => { h.Peripherals = Array.from({ length: 129 }, (_, i) => ({ Name: `G${i}`, Type: "Gpio", AppManifestValue: i })); }), `hw: 129 GPIO pins; the core supports at most ${abi.MAX_GPIO_PINS}`);
});

test("at the bounds: entries in any order may touch; 16 entries are counted (then refused for what they hold); a 2-block device is read", () => {
  // Adjacent partitions listed from the end of the flash back: touching is not overlapping.
  const reversed = [...base].reverse();
  assert.deepEqual(readTable(device(reversed)), reversed);
  // Sixteen entries is the most a table may count: the refusal is for the sixth, a second os-a.
  const sixteen = [...base, ...Array.from({ length: 11 }, () => base[0])];
  assert.equal(refused(device(sixteen)), "partition table: entry 5 (os-a): a second partition of this type");
  // Two blocks is the least a device may have: its table is read (and refused for what it lacks).
  const tiny = new Flash({ blockSizeBytes: B, blockCount: 2 });
  tiny.bytes.set(encodeTable([{ type: abi.PART_OS_A, name: "os-a", flags: abi.PART_FLAG_ACTIVE, offsetBytes: B, sizeBytes: B }], 2 * B));
  assert.equal(refused(tiny), "partition table: entries: no os-b partition");
});
