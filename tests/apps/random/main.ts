// An app that takes 600 random bytes with the SDK's random.bytes (sdk/applibs.ts: three requests to
// the security processor, 256 + 256 + 88 bytes) and logs how many it got and, in hex, the first 4
// bytes of each piece. tests/e2e/random.test.ts builds it with the SDK and compares the line with
// what the processor answered.
import { log, random } from "@wasphere/sdk";

const HEX = "0123456789abcdef";

function hex(buf: ArrayBuffer, at: i32, n: i32): string {
  let out = "";
  for (let i = 0; i < n; i++) {
    const b = <i32>load<u8>(changetype<usize>(buf) + <usize>(at + i));
    out += HEX.charAt(b >> 4) + HEX.charAt(b & 15);
  }
  return out;
}

export function main(): i32 {
  const buf = new ArrayBuffer(600);
  const rc = random.bytes(buf);
  log("got " + rc.toString() + " " + hex(buf, 0, 4) + " " + hex(buf, 256, 4) + " " + hex(buf, 512, 4));
  return rc == 600 ? 0 : 1;
}
