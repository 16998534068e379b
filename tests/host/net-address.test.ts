// The host's socket address records (host/net/network.ts; SPEC.md "Network calls": family, 0, port
// LE, 16 address bytes): what the core's allowlist check reads and the host sends to must be the
// same host, so a family-6 IPv4-mapped address is taken as the IPv4 one on both sides.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { addrOfRecord, addrRecord } from "../../host/net/network.js";

test("a record round-trips IPv4 and IPv6 addresses with their port", () => {
  assert.deepEqual(addrOfRecord(addrRecord("127.0.0.1", 5353)), { address: "127.0.0.1", port: 5353, family: 4 });
  assert.deepEqual(addrOfRecord(addrRecord("::1", 80)), { address: "0:0:0:0:0:0:0:1", port: 80, family: 6 });
  assert.deepEqual(addrOfRecord(addrRecord("fe80::1:2", 65535)), { address: "fe80:0:0:0:0:0:1:2", port: 65535, family: 6 });
});

test("a family-6 IPv4-mapped address is the IPv4 host", () => {
  const rec = new Uint8Array(abi.NET_ADDR_BYTES);
  rec[0] = 6; rec[2] = 0x39; rec[3] = 0x30;
  rec.set([0xff, 0xff, 10, 1, 2, 3], 14);
  assert.deepEqual(addrOfRecord(rec), { address: "10.1.2.3", port: 12345, family: 4 });
  rec[13] = 1; // no longer ::ffff:0:0/96
  assert.equal(addrOfRecord(rec)?.family, 6);
});

test("what is not a record is refused", () => {
  assert.equal(addrOfRecord(new Uint8Array(abi.NET_ADDR_BYTES - 1)), null);
  const rec = addrRecord("127.0.0.1", 1);
  rec[0] = 5;
  assert.equal(addrOfRecord(rec), null);
  rec[0] = 4; rec[1] = 1;
  assert.equal(addrOfRecord(rec), null);
});
