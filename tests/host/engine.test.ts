// The portable UTF-8 decoder (engines without TextDecoder) decodes every input as TextDecoder does:
// the conformance trace compares log lines across engines.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeUtf8Portable } from "../../host/engine.js";

const td = new TextDecoder();
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("edge cases: truncated, overlong, surrogates, out of range, BOM", () => {
  const cases = [
    [], [0x41], [0xef, 0xbb, 0xbf, 0x41], [0x41, 0xef, 0xbb, 0xbf], [0xc3, 0xa9], [0xc3], [0xc3, 0x41], [0xe2, 0x82], [0xe2, 0x82, 0xac],
    [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98, 0x80], [0xf0, 0x9f, 0x98],
    [0xc0, 0xaf], [0xff], [0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x62, 0x79, 0x65, 0xff, 0x00],
  ].map((a) => new Uint8Array(a));
  for (const c of cases) assert.equal(decodeUtf8Portable(c), td.decode(c), hex(c));
});

test("200,000 random byte strings biased to UTF-8 lead and continuation bytes", () => {
  let seed = 0x2545f491;
  const rand = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32; };
  const pool = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff, 0xbb, 0xbd];
  for (let n = 0; n < 200_000; n++) {
    const b = new Uint8Array(1 + Math.floor(rand() * 8));
    for (let i = 0; i < b.length; i++) b[i] = rand() < 0.8 ? pool[Math.floor(rand() * pool.length)] : Math.floor(rand() * 256);
    const want = td.decode(b);
    if (decodeUtf8Portable(b) !== want) assert.equal(decodeUtf8Portable(b), want, hex(b));
  }
});
