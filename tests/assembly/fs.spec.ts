import { crc32 } from "../../assembly/fs/crc";
import { mkTag, tagType3, tagId, tagSize, tagDsize, tagSplice, tagIsCcrc, seqNewer, ctzIndex, ctzOffset, ctzPointerCount } from "../../assembly/fs/tag";

describe("fs crc", () => {
  it("is CRC-32 without the final xor", () => {
    const buf = memory.data<u8>([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39]);
    // zlib.crc32("123456789") = 0xcbf43926; littlefs keeps the register un-inverted.
    expect(crc32(0xffffffff, buf, 9)).toBe(0xcbf43926 ^ 0xffffffff);
  });
});

describe("fs tags", () => {
  it("packs and unpacks type, id and size", () => {
    const t = mkTag(0x201, 5, 24);
    expect(tagType3(t)).toBe(0x201);
    expect(tagId(t)).toBe(5);
    expect(tagSize(t)).toBe(24);
    expect(tagDsize(t)).toBe(28);
  });
  it("gives deleted tags no data and splices a sign", () => {
    expect(tagDsize(mkTag(0x300, 1, 0x3ff))).toBe(4);
    expect(tagSplice(mkTag(0x401, 3, 0))).toBe(1);
    expect(tagSplice(mkTag(0x4ff, 3, 0))).toBe(-1);
  });
  it("tells commit CRCs from FCRCs", () => {
    expect(tagIsCcrc(mkTag(0x500, 0x3ff, 8))).toBe(true);
    expect(tagIsCcrc(mkTag(0x501, 0x3ff, 8))).toBe(true);
    expect(tagIsCcrc(mkTag(0x5ff, 0x3ff, 8))).toBe(false);
  });
  it("compares revisions with wrap-around", () => {
    expect(seqNewer(1, 0xffffffff)).toBe(true);
    expect(seqNewer(0xffffffff, 1)).toBe(false);
  });
});

describe("fs ctz index", () => {
  it("maps positions to blocks and offsets for 512-byte blocks", () => {
    expect(ctzIndex(512, 0)).toBe(0);
    expect(ctzOffset(512, 0)).toBe(0);
    expect(ctzIndex(512, 511)).toBe(0);
    expect(ctzOffset(512, 511)).toBe(511);
    // Block 1 holds one pointer: position 512 is its byte 4.
    expect(ctzIndex(512, 512)).toBe(1);
    expect(ctzOffset(512, 512)).toBe(4);
    // Block 2 holds two pointers: it starts at 512 + 508 = 1020, data at offset 8.
    expect(ctzIndex(512, 1020)).toBe(2);
    expect(ctzOffset(512, 1020)).toBe(8);
  });
  it("counts pointers per block", () => {
    expect(ctzPointerCount(0)).toBe(0);
    expect(ctzPointerCount(1)).toBe(1);
    expect(ctzPointerCount(2)).toBe(2);
    expect(ctzPointerCount(4)).toBe(3);
    expect(ctzPointerCount(6)).toBe(2);
  });
});
