// An app that takes 600 random bytes with the SDK's random.bytes (sdk/applibs.ts: three requests to
// the security processor, 256 + 256 + 88 bytes) and logs how many it got and, in hex, the first 4
// bytes of each piece, then the SHA-256 of all 600 (sha256.digest). tests/e2e/random.test.ts builds
// it with the SDK and compares the lines with what the processor answered.
import { log, random, sha256 } from "@wasphere/sdk";

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
  const digest = new ArrayBuffer(sha256.DIGEST_BYTES);
  const hashed = sha256.digest(buf, digest);
  log("sha256 " + hashed.toString() + " " + hex(digest, 0, 32));
  return rc == 600 && hashed == 32 ? 0 : 1;
}
