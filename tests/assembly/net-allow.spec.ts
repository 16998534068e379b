// The network allowlist's canonical forms and match (assembly/net/allow.ts): every spelling of one
// address is one form, every spelling a resolver reads as an address is refused as a name, and a
// target matches only what its entry names.
import { EINVAL } from "../../assembly/abi";
import { netCanonical, netCanonicalOfSocketAddress, netEntryMatches, NET_CANON_MAX_BYTES } from "../../assembly/net/allow";

const a = memory.data(NET_CANON_MAX_BYTES);
const b = memory.data(NET_CANON_MAX_BYTES);

/** The canonical form of `text` as printable text: kind letter, then the name or the address bytes in hex; "ERR" when refused. */
function canon(text: string, wildcardOk: bool = false): string {
  const bytes = String.UTF8.encode(text);
  const n = netCanonical(changetype<usize>(bytes), bytes.byteLength, a, wildcardOk);
  if (n == -EINVAL) return "ERR";
  const kind = load<u8>(a);
  let out = String.fromCharCode(kind) + ":";
  for (let i = 1; i < n; i++) {
    const c = load<u8>(a + <usize>i);
    if (kind == 0x6e || kind == 0x77) out += String.fromCharCode(c);
    else out += (c < 16 ? "0" : "") + c.toString(16);
  }
  return out;
}

function allows(entry: string, target: string): bool {
  const e = String.UTF8.encode(entry);
  const t = String.UTF8.encode(target);
  const en = netCanonical(changetype<usize>(e), e.byteLength, a, true);
  const tn = netCanonical(changetype<usize>(t), t.byteLength, b, false);
  if (en < 0 || tn < 0) return false;
  return netEntryMatches(a, en, b, tn);
}

describe("net/allow: canonical forms", () => {
  it("host names: lowercased, one trailing dot dropped", () => {
    expect(canon("Example.COM")).toBe("n:example.com");
    expect(canon("example.com.")).toBe("n:example.com");
    expect(canon("localhost")).toBe("n:localhost");
    expect(canon("a-b.c1")).toBe("n:a-b.c1");
  });
  it("refuses names that are not names: empty labels, bad characters, long labels, edge hyphens", () => {
    expect(canon("")).toBe("ERR");
    expect(canon(".")).toBe("ERR");
    expect(canon("a..b")).toBe("ERR");
    expect(canon("a.b..")).toBe("ERR");
    expect(canon("-a.com")).toBe("ERR");
    expect(canon("a-.com")).toBe("ERR");
    expect(canon("a_b.com")).toBe("ERR");
    expect(canon("a b.com")).toBe("ERR");
    expect(canon("a\0.com")).toBe("ERR");
    expect(canon("caf\u00e9.com")).toBe("ERR");
    expect(canon("a".repeat(63) + ".com")).toBe("n:" + "a".repeat(63) + ".com");
    expect(canon("a".repeat(64) + ".com")).toBe("ERR");
  });
  it("refuses as a name what a resolver reads as an address", () => {
    expect(canon("127.1")).toBe("ERR");
    expect(canon("2130706433")).toBe("ERR");
    expect(canon("0x7f.0.0.1")).toBe("ERR");
    expect(canon("0x7f000001")).toBe("ERR");
    expect(canon("010.0.0.1")).toBe("ERR");
    expect(canon("1.2.3.4.5")).toBe("ERR");
    expect(canon("example.123")).toBe("ERR");
    expect(canon("0xcafe.com")).toBe("n:0xcafe.com");
    expect(canon("123.example")).toBe("n:123.example");
  });
  it("IPv4: four decimal parts of 0 to 255, no leading zeros", () => {
    expect(canon("127.0.0.1")).toBe("4:7f000001");
    expect(canon("255.255.255.255")).toBe("4:ffffffff");
    expect(canon("0.0.0.0")).toBe("4:00000000");
    expect(canon("256.0.0.1")).toBe("ERR");
    expect(canon("1.2.3")).toBe("ERR");
    expect(canon("1.2.3.")).toBe("ERR");
    expect(canon("01.2.3.4")).toBe("ERR");
  });
  it("IPv6: every spelling of one address is one form; a mapped IPv4 address is the IPv4 address", () => {
    const loop = "6:00000000000000000000000000000001";
    expect(canon("::1")).toBe(loop);
    expect(canon("0:0:0:0:0:0:0:1")).toBe(loop);
    expect(canon("0000:0::0001")).toBe(loop);
    expect(canon("[::1]")).toBe(loop);
    expect(canon("::")).toBe("6:00000000000000000000000000000000");
    expect(canon("2001:DB8::8:800:200C:417A")).toBe("6:20010db80000000000080800200c417a");
    expect(canon("1::")).toBe("6:00010000000000000000000000000000");
    expect(canon("::ffff:127.0.0.1")).toBe("4:7f000001");
    expect(canon("::FFFF:7f00:1")).toBe("4:7f000001");
    expect(canon("[::ffff:10.1.2.3]")).toBe("4:0a010203");
    expect(canon("64:ff9b::1.2.3.4")).toBe("6:0064ff9b000000000000000001020304");
  });
  it("IPv6: refuses what RFC 4291 does not allow, and zones", () => {
    expect(canon(":1")).toBe("ERR");
    expect(canon("1:")).toBe("ERR");
    expect(canon("1::2::3")).toBe("ERR");
    expect(canon("1:2:3:4:5:6:7:8:9")).toBe("ERR");
    expect(canon("1:2:3:4:5:6:7::8")).toBe("ERR");
    expect(canon("12345::1")).toBe("ERR");
    expect(canon("fe80::1%eth0")).toBe("ERR");
    expect(canon("[::1")).toBe("ERR");
    expect(canon("::1.2.3")).toBe("ERR");
    expect(canon("1:2:3:4:5:6:7:1.2.3.4")).toBe("ERR");
  });
  it("a wildcard only where asked for, and only as the whole first label", () => {
    expect(canon("*.example.com", true)).toBe("w:example.com");
    expect(canon("*.example.com")).toBe("ERR");
    expect(canon("a*.example.com", true)).toBe("ERR");
    expect(canon("*example.com", true)).toBe("ERR");
    expect(canon("*.", true)).toBe("ERR");
  });
});

describe("net/allow: what an entry allows", () => {
  it("a name allows the name in any case, not its address, a sub-domain or a look-alike", () => {
    expect(allows("example.com", "EXAMPLE.com.")).toBe(true);
    expect(allows("example.com", "93.184.216.34")).toBe(false);
    expect(allows("example.com", "www.example.com")).toBe(false);
    expect(allows("example.com", "example.com.evil.test")).toBe(false);
    expect(allows("example.com", "xexample.com")).toBe(false);
  });
  it("an address allows that address in every spelling, not a name", () => {
    expect(allows("127.0.0.1", "127.0.0.1")).toBe(true);
    expect(allows("127.0.0.1", "::ffff:127.0.0.1")).toBe(true);
    expect(allows("::1", "[0::1]")).toBe(true);
    expect(allows("127.0.0.1", "localhost")).toBe(false);
    expect(allows("127.0.0.1", "127.0.0.2")).toBe(false);
    expect(allows("127.0.0.1", "127.1")).toBe(false);
    expect(allows("::1", "127.0.0.1")).toBe(false);
  });
  it("a wildcard allows names below it, not the name itself nor a name merely ending in its text", () => {
    expect(allows("*.example.com", "a.example.com")).toBe(true);
    expect(allows("*.example.com", "a.b.Example.com")).toBe(true);
    expect(allows("*.example.com", "example.com")).toBe(false);
    expect(allows("*.example.com", "badexample.com")).toBe(false);
    expect(allows("*.example.com", "a.example.com.evil")).toBe(false);
    expect(allows("*.example.com", "93.184.216.34")).toBe(false);
  });
});

/** The canonical form of a socket address record (family, 0, port, then address bytes from offset 4) as canon() prints it. */
function sockCanon(family: u8, bytes: u8[]): string {
  const rec = memory.data(20);
  memory.fill(rec, 0, 20);
  store<u8>(rec, family);
  for (let i = 0; i < bytes.length; i++) store<u8>(rec + 4 + <usize>i, bytes[i]);
  const n = netCanonicalOfSocketAddress(rec, a);
  let out = String.fromCharCode(load<u8>(a)) + ":";
  for (let i = 1; i < n; i++) { const c = load<u8>(a + <usize>i); out += (c < 16 ? "0" : "") + c.toString(16); }
  return out;
}

describe("net/allow: a datagram's socket address", () => {
  it("takes an IPv4-mapped IPv6 address as the IPv4 address, as a connect target is", () => {
    expect(sockCanon(4, [127, 0, 0, 1])).toBe(canon("127.0.0.1"));
    expect(sockCanon(6, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1])).toBe(canon("127.0.0.1"));
    expect(sockCanon(6, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])).toBe(canon("::1"));
    // Only ::ffff:0:0/96 is mapped: ::a.b.c.d (deprecated IPv4-compatible) and 0:0:0:0:0:fffe:... stay IPv6.
    expect(sockCanon(6, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 127, 0, 0, 1])).toBe(canon("::127.0.0.1"));
    expect(sockCanon(6, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 127, 0, 0, 1])).not.toBe(canon("127.0.0.1"));
  });
});
