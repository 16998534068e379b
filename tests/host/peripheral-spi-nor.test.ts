// The SPI NOR flash model on an SPI bus, against the W25Q datasheets' single-I/O instructions:
// IDs, write enable, page program (wrap within the page, bits only cleared), erases of each size,
// BUSY and what is ignored while it is set, reads wrapping at the end, power-down; and what a
// misconfigured master gets (garbage, as from a real part).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SpiBus, type SpiConfig, EINVAL, reverseBits } from "../../host/peripherals/spi.js";
import { SpiNorFlash, W25Q128JV, W25Q80DV } from "../../host/peripherals/spi-nor.js";

const MODE0: SpiConfig = { mode: 0, lsbFirst: false, clockHz: 20_000_000 };

function setup(part = W25Q80DV) {
  const bus = new SpiBus();
  const flash = new SpiNorFlash(part);
  bus.attach(0, flash);
  const xfer = (write: number[], readLength = 0, t = 0, cfg = MODE0) =>
    [...(bus.transfer(0, cfg, readLength ? [{ write: Uint8Array.from(write) }, { readLength }] : [{ write: Uint8Array.from(write) }], t) as Uint8Array)];
  const addr = (a: number) => [(a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff];
  return { bus, flash, xfer, addr };
}

test("IDs: JEDEC (9Fh), manufacturer/device (90h), device (ABh), unique (4Bh)", () => {
  const big = setup(W25Q128JV);
  assert.deepEqual(big.xfer([0x9f], 3), [0xef, 0x40, 0x18]);
  assert.deepEqual(big.xfer([0x90, 0, 0, 0], 2), [0xef, 0x17]);
  assert.deepEqual(big.xfer([0xab, 0, 0, 0], 1), [0x17]);
  assert.deepEqual(big.xfer([0x4b, 0, 0, 0, 0], 8), [...big.flash.uniqueId]);
  assert.deepEqual(setup().xfer([0x9f], 3), [0xef, 0x40, 0x14]);
});

test("page program needs write enable, wraps within its page, only clears bits, and clears WEL", () => {
  const { flash, xfer, addr } = setup();
  xfer([0x02, ...addr(0x10), 0x00]);
  assert.equal(flash.array[0x10], 0xff, "no write enable: ignored");
  xfer([0x06]);
  assert.deepEqual(xfer([0x05], 1), [0x02], "WEL set");
  xfer([0x02, ...addr(0xfe), 1, 2, 3, 4], 0, 0);
  assert.deepEqual(xfer([0x05], 1, 0.1), [0x01], "BUSY, and WEL cleared");
  assert.deepEqual(xfer([0x03, ...addr(0xfe)], 2, 0.1), [0xff, 0xff], "a read while BUSY is ignored (the line idles high)");
  assert.deepEqual(xfer([0x05], 1, 0.7), [0x00], "done after the typical program time");
  assert.deepEqual([flash.array[0xfe], flash.array[0xff], flash.array[0x00], flash.array[0x01], flash.array[0x100]], [1, 2, 3, 4, 0xff]);
  xfer([0x06], 0, 1);
  xfer([0x02, ...addr(0x00), 0xf0], 0, 1);
  assert.equal(flash.array[0], 0x03 & 0xf0, "programming only clears bits");
});

test("sector, 32 KiB and 64 KiB block, and chip erase clear exactly their range; a command while BUSY is ignored", () => {
  const { flash, xfer, addr } = setup();
  flash.array.fill(0);
  xfer([0x06]);
  xfer([0x20, ...addr(0x1234)], 0, 0);
  assert.equal(flash.array[0x0fff], 0);
  assert.ok(flash.array.subarray(0x1000, 0x2000).every((b) => b === 0xff));
  assert.equal(flash.array[0x2000], 0);
  xfer([0x06], 0, 10);
  assert.equal(flash.counters.ignored, 1, "write enable during the 45 ms erase is ignored");
  xfer([0x06], 0, 50);
  xfer([0x52, ...addr(0x9000)], 0, 50);
  assert.ok(flash.array.subarray(0x8000, 0x10000).every((b) => b === 0xff));
  assert.equal(flash.array[0x10000], 0);
  xfer([0x06], 0, 200);
  xfer([0xd8, ...addr(0x2ffff)], 0, 200);
  assert.ok(flash.array.subarray(0x20000, 0x30000).every((b) => b === 0xff));
  assert.equal(flash.array[0x30000], 0);
  xfer([0x06], 0, 400);
  xfer([0xc7], 0, 400);
  assert.ok(flash.array.every((b) => b === 0xff));
  assert.equal(flash.counters.erases, 3);
});

test("read data and fast read continue across pages and wrap at the end of the array", () => {
  const { flash, xfer, addr } = setup();
  flash.array.set([1, 2], W25Q80DV.sizeBytes - 2);
  flash.array.set([3, 4], 0);
  assert.deepEqual(xfer([0x03, ...addr(W25Q80DV.sizeBytes - 2)], 4), [1, 2, 3, 4]);
  assert.deepEqual(xfer([0x0b, ...addr(W25Q80DV.sizeBytes - 1), 0x00], 2), [2, 3], "one dummy byte after the address");
});

test("power-down ignores everything but release (ABh), which answers the device ID", () => {
  const { xfer } = setup();
  xfer([0xb9]);
  assert.deepEqual(xfer([0x9f], 3), [0xff, 0xff, 0xff]);
  assert.deepEqual(xfer([0xab, 0, 0, 0], 1), [0x13]);
  assert.deepEqual(xfer([0x9f], 3), [0xef, 0x40, 0x14]);
});

test("a misconfigured master reads garbage: wrong bit order, a mode the part does not use, a clock too fast; mode 3 works", () => {
  const { bus, xfer } = setup();
  assert.deepEqual(xfer([0x9f], 3, 0, { ...MODE0, mode: 3 }), [0xef, 0x40, 0x14]);
  assert.deepEqual(xfer([0x9f], 3, 0, { ...MODE0, lsbFirst: true }), [0xff, 0xff, 0xff], "9Fh arrives as F9h, no instruction");
  assert.notDeepEqual(xfer([0x9f], 3, 0, { ...MODE0, mode: 1 }), [0xef, 0x40, 0x14]);
  assert.deepEqual(xfer([0x9f], 3, 0, { ...MODE0, clockHz: 200_000_000 }), [0xff, 0xff, 0xff]);
  assert.equal(reverseBits(0x9f), 0xf9);
  assert.equal(bus.transfer(1, MODE0, [{ readLength: 1 }], 0), EINVAL, "no target on chip select 1");
  assert.equal(bus.transfer(0, { ...MODE0, mode: 4 }, [{ readLength: 1 }], 0), EINVAL);
});
