// The core's parsers of raw-flash formats (SPEC.md, "Flash layout" and "Image packages"), on the
// specs' RAM flash: a partition table built here from SPEC.md's offsets, and the refusals that
// come before any section of a package is read. Full packages are covered by the host tests
// (tests/host/imagepkg.test.ts), which build them with the host's writer.
import { flash_erase, flash_prog } from "../../assembly/hal/index";
import { crc32 } from "../../assembly/fs/crc";
import { msgPtr, msgLen } from "../../assembly/util/msg";
import { ptableParse } from "../../assembly/flash/ptable";
import { pkgParse } from "../../assembly/appmgr/imagepkg";
import { EINVAL, ECORRUPT, EFBIG } from "../../assembly/abi";

const ERASE: u32 = 4096;
const BLOCKS: u32 = 512; // a 2 MiB device
const table = memory.data(4096, 8);
const out = memory.data(512, 8);
const PKG_BLOCK: u32 = 900;

function message(): string { return String.UTF8.decodeUnsafe(msgPtr(), <usize>msgLen()); }

function entry(i: i32, type: u16, flags: u16, offset: u32, size: u32): void {
  const e = table + 16 + <usize>i * 16;
  store<u16>(e, type); store<u16>(e + 2, flags); store<u32>(e + 4, offset); store<u32>(e + 8, size); store<u32>(e + 12, 0);
}

/** The 2 MiB layout of SPEC.md, written to block 0; `edit` runs before the CRC is computed. */
function writeTable(count: i32, edit: () => void): void {
  memory.fill(table, 0xff, 4096);
  store<u32>(table, 0x54505357); store<u16>(table + 4, 1); store<u16>(table + 6, <u16>count);
  store<u32>(table + 8, ERASE); store<u32>(table + 12, BLOCKS);
  const u: u32 = 128 * 1024;
  entry(0, 1, 1, ERASE, u);
  entry(1, 2, 0, ERASE + u, u);
  entry(2, 3, 0, ERASE + 2 * u, 8 * u - ERASE);
  entry(3, 4, 0, 10 * u, 2 * u);
  entry(4, 5, 0, 12 * u, 4 * u);
  edit();
  const body = 16 + <u32>count * 16;
  store<u32>(table + <usize>body, ~crc32(0xffffffff, table, body));
  flash_erase(0);
  flash_prog(0, 0, table, ERASE);
}

describe("ptableParse", () => {
  it("refuses an erased block 0 by its magic", () => {
    flash_erase(0);
    expect(ptableParse(ERASE, BLOCKS, out)).toBe(-EINVAL);
    expect(message()).toBe("partition table: header: bad magic (block 0 holds no partition table)");
  });
  it("reads the five partitions back", () => {
    writeTable(5, () => {});
    expect(ptableParse(ERASE, BLOCKS, out)).toBe(5);
    // partition-entry records of 12 bytes: u16 type, u16 flags, u32 offset, u32 size.
    expect(load<u16>(out)).toBe(1);
    expect(load<u16>(out + 2)).toBe(1);
    expect(load<u32>(out + 4)).toBe(ERASE);
    expect(load<u32>(out + 8)).toBe(128 * 1024);
    expect(load<u16>(out + 4 * 12)).toBe(5);
    expect(load<u16>(out + 4 * 12 + 2)).toBe(0);
    expect(load<u32>(out + 4 * 12 + 4)).toBe(12 * 128 * 1024);
    expect(load<u32>(out + 4 * 12 + 8)).toBe(4 * 128 * 1024);
    expect(msgLen()).toBe(0);
  });
  it("refuses a table for another device, and a damaged CRC", () => {
    writeTable(5, () => {});
    expect(ptableParse(ERASE, BLOCKS * 2, out)).toBe(-EINVAL);
    expect(message()).toBe("partition table: header: block count 512 is not this device's");
    expect(ptableParse(2048, BLOCKS, out)).toBe(-EINVAL);
    writeTable(5, () => {});
    const flipped = memory.data(4, 4);
    store<u32>(flipped, 0xfffdffff);
    flash_prog(0, 24, flipped, 4); // clears a bit of entry 0's size: the CRC no longer matches
    expect(ptableParse(ERASE, BLOCKS, out)).toBe(-ECORRUPT);
    expect(message()).toBe("partition table: CRC: CRC-32 does not match (damaged table)");
  });
  it("refuses overlapping entries and a missing partition, and writes no result", () => {
    store<u32>(out, 0xdead);
    writeTable(5, () => { store<u32>(table + 16 + 3 * 16 + 4, 9 * 128 * 1024); });
    expect(ptableParse(ERASE, BLOCKS, out)).toBe(-EINVAL);
    expect(message()).toBe("partition table: entry 3 (staging): overlaps entry 2");
    writeTable(4, () => {});
    expect(ptableParse(ERASE, BLOCKS, out)).toBe(-EINVAL);
    expect(message()).toBe("partition table: entries: no data partition");
    expect(load<u32>(out)).toBe(0xdead);
    flash_erase(0);
  });
});

describe("pkgParse", () => {
  it("refuses what cannot be a package before reading sections", () => {
    flash_erase(PKG_BLOCK);
    expect(pkgParse(ERASE, PKG_BLOCK, 4096, out)).toBe(-EINVAL);
    expect(message()).toBe("image package: trailer: bad magic (not an image package, or truncated)");
    expect(pkgParse(ERASE, PKG_BLOCK, 100, out)).toBe(-EINVAL);
    expect(message()).toBe("image package: package: is 100 bytes; too short to hold a littlefs image, metadata and trailer (truncated?)");
    expect(pkgParse(ERASE, PKG_BLOCK, 2097153, out)).toBe(-EFBIG);
    expect(message()).toBe("image package: package: is 2097153 bytes; the limit is 2097152");
    expect(pkgParse(1000, PKG_BLOCK, 4096, out)).toBe(-EINVAL);
    expect(message()).toBe("image package: flash: block size 1000 is not a power of two from 128 to 65536");
  });
  it("refuses a trailer whose metadata does not end at the trailer", () => {
    flash_erase(PKG_BLOCK);
    const t = memory.data(16, 4);
    store<u32>(t, 1024); store<u32>(t + 4, 64); store<u32>(t + 8, 0); store<u32>(t + 12, 0x4b505357);
    flash_prog(PKG_BLOCK, 4096 - 16, t, 16);
    expect(pkgParse(ERASE, PKG_BLOCK, 4096, out)).toBe(-EINVAL);
    expect(message()).toBe("image package: trailer: metadata at 1024 does not end where the trailer starts (truncated or padded)");
    flash_erase(PKG_BLOCK);
  });
});
