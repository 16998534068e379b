// net/allow: the network allowlist's names and addresses, in one canonical form, and the match.
//
// What it is: the policy half of `AllowedConnections` (SPEC.md, app_manifest.json): each entry and
// each connection target becomes a canonical form before they are compared, so that no spelling
// of a target reaches what its entry did not name.
// - A host name: letters, digits and '-' in labels of 1 to 63, 253 bytes at most, lowercased, one
//   trailing dot dropped. A name whose last label is numeric (or 0x...) is refused: resolvers
//   read "127.1", "2130706433" and "0x7f.0.0.1" as addresses, so as a name it would reach an
//   address the list never named.
// - A wildcard `*.example.com`: any name of one or more labels ending in `.example.com`
//   (not `example.com` itself).
// - An IPv4 address: four decimal parts of 0 to 255 with no leading zeros (no octal reading).
// - An IPv6 address: RFC 4291 text (with `::` and an embedded IPv4 tail), no zone. An
//   IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address: the same host either way.
// Canonical form (bytes): 'n' then the name; 'w' then the suffix after "*."; '4' then 4 address
// bytes; '6' then 16. A name matches only a name or wildcard entry and an address only the same
// address: connecting by address to a host the list names only by name is refused, and so is a
// name that resolves to a listed address (the host resolves only names that matched).
// Invariants: no allocation; every read is bounded by the lengths given; -EINVAL for anything
// that is not one of the forms above.
// Memory: none of its own (callers pass the buffers).
// Must not: resolve names (the host does, after the match), or accept a form it cannot compare.
import { EINVAL } from "../abi";

/** The longest canonical form: 'n' and a 253-byte name. */
export const NET_CANON_MAX_BYTES: i32 = 254;

const KIND_NAME: u8 = 0x6e; // 'n'
const KIND_WILDCARD: u8 = 0x77; // 'w'
const KIND_V4: u8 = 0x34; // '4'
const KIND_V6: u8 = 0x36; // '6'

@inline function isDigit(c: u32): bool { return c >= 0x30 && c <= 0x39; }
@inline function hexValue(c: u32): i32 {
  if (isDigit(c)) return <i32>c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? <i32>l - 0x61 + 10 : -1;
}

/** Four decimal parts into dst[0..4): 0, or -1 when [p, p+n) is not exactly that. */
function parseV4(p: usize, n: i32, dst: usize): i32 {
  let part = 0, value = 0, digits = 0;
  for (let i = 0; i <= n; i++) {
    const c: u32 = i < n ? load<u8>(p + <usize>i) : 0x2e;
    if (isDigit(c)) {
      if (digits == 1 && value == 0) return -1; // a leading zero
      value = value * 10 + <i32>(c - 0x30);
      if (++digits > 3 || value > 255) return -1;
      continue;
    }
    if (c != 0x2e || digits == 0 || part >= 4) return -1;
    store<u8>(dst + <usize>part, <u8>value);
    part++;
    value = 0;
    digits = 0;
  }
  return part == 4 ? 0 : -1;
}

/** RFC 4291 text into dst[0..16): 0, or -1. */
function parseV6(p: usize, n: i32, dst: usize): i32 {
  if (n < 2 || n > 45) return -1;
  memory.fill(dst, 0, 16);
  let groups = 0; // 16-bit groups written
  let gap = -1; // the group index where "::" stands
  let i = 0;
  if (load<u8>(p) == 0x3a) {
    if (load<u8>(p + 1) != 0x3a) return -1;
    gap = 0;
    i = 2;
    if (i == n) return 0; // "::"
  }
  while (i < n) {
    // An IPv4 tail: the rest holds a '.'.
    let dotted = false;
    for (let j = i; j < n && load<u8>(p + <usize>j) != 0x3a; j++) if (load<u8>(p + <usize>j) == 0x2e) { dotted = true; break; }
    if (dotted) {
      if (groups > 6 || parseV4(p + <usize>i, n - i, dst + <usize>(groups * 2)) != 0) return -1;
      groups += 2;
      i = n;
      break;
    }
    let value = 0, digits = 0;
    while (i < n) {
      const h = hexValue(load<u8>(p + <usize>i));
      if (h < 0) break;
      value = (value << 4) | h;
      if (++digits > 4) return -1;
      i++;
    }
    if (digits == 0 || groups >= 8) return -1;
    store<u8>(dst + <usize>(groups * 2), <u8>(value >> 8));
    store<u8>(dst + <usize>(groups * 2 + 1), <u8>value);
    groups++;
    if (i == n) break;
    if (load<u8>(p + <usize>i) != 0x3a) return -1;
    i++;
    if (i < n && load<u8>(p + <usize>i) == 0x3a) {
      if (gap >= 0) return -1; // a second "::"
      gap = groups;
      i++;
      if (i == n) break;
    } else if (i == n) {
      return -1; // a trailing single ':'
    }
  }
  if (gap < 0) return groups == 8 ? 0 : -1;
  if (groups >= 8) return -1; // "::" must stand for at least one group
  // Move the groups after the gap to the end.
  const after = groups - gap;
  memory.copy(dst + <usize>((8 - after) * 2), dst + <usize>(gap * 2), <usize>(after * 2));
  memory.fill(dst + <usize>(gap * 2), 0, <usize>((8 - after - gap) * 2));
  return 0;
}

/** true when the 16 bytes at a are ::ffff:a.b.c.d. */
function isV4Mapped(a: usize): bool {
  for (let i = 0; i < 10; i++) if (load<u8>(a + <usize>i) != 0) return false;
  return load<u8>(a + 10) == 0xff && load<u8>(a + 11) == 0xff;
}

/** A host name's canonical bytes at dst + 1 (lowercased, no trailing dot): their count, or -1. */
function canonName(p: usize, n: i32, dst: usize): i32 {
  if (n > 0 && load<u8>(p + <usize>(n - 1)) == 0x2e) n--;
  if (n == 0 || n > 253) return -1;
  let labelStart = 0;
  let lastNumeric = true;
  for (let i = 0; i <= n; i++) {
    const c: u32 = i < n ? load<u8>(p + <usize>i) : 0x2e;
    if (c == 0x2e) {
      const len = i - labelStart;
      if (len == 0 || len > 63) return -1;
      if (load<u8>(p + <usize>labelStart) == 0x2d || load<u8>(p + <usize>(i - 1)) == 0x2d) return -1;
      // The last label decides whether a resolver reads the whole as an address.
      lastNumeric = true;
      const hex = len > 2 && load<u8>(p + <usize>labelStart) == 0x30 && (load<u8>(p + <usize>labelStart + 1) | 0x20) == 0x78;
      for (let j = labelStart; j < i; j++) {
        if (hex && j == labelStart + 1) continue; // the 'x' of "0x"
        const d: u32 = load<u8>(p + <usize>j);
        if (!isDigit(d) && !(hex && j >= labelStart + 2 && hexValue(d) >= 0)) lastNumeric = false;
      }
      labelStart = i + 1;
      if (i < n) store<u8>(dst + 1 + <usize>i, 0x2e);
      continue;
    }
    const l = c | 0x20;
    if (!(isDigit(c) || c == 0x2d || (l >= 0x61 && l <= 0x7a))) return -1;
    store<u8>(dst + 1 + <usize>i, <u8>(c == 0x2d || isDigit(c) ? c : l));
  }
  if (lastNumeric) return -1;
  return n;
}

/**
 * The canonical form of the text at [p, p+n) into dst (at least NET_CANON_MAX_BYTES): its length,
 * or -EINVAL. `wildcardOk`: an allowlist entry may be `*.name`; a connection target may not.
 */
export function netCanonical(p: usize, n: i32, dst: usize, wildcardOk: bool): i32 {
  if (n <= 0 || n > 253) return -EINVAL;
  // A bracketed IPv6 literal ("[::1]") is the address.
  if (load<u8>(p) == 0x5b) {
    if (load<u8>(p + <usize>(n - 1)) != 0x5d) return -EINVAL;
    p += 1;
    n -= 2;
    if (parseV6(p, n, dst + 1) != 0) return -EINVAL;
  } else if (parseV4(p, n, dst + 1) == 0) {
    store<u8>(dst, KIND_V4);
    return 5;
  } else {
    let colon = false;
    for (let i = 0; i < n; i++) if (load<u8>(p + <usize>i) == 0x3a) { colon = true; break; }
    if (!colon) {
      if (n > 2 && load<u16>(p) == 0x2e2a) { // "*."
        if (!wildcardOk) return -EINVAL;
        const len = canonName(p + 2, n - 2, dst);
        if (len < 0) return -EINVAL;
        store<u8>(dst, KIND_WILDCARD);
        return len + 1;
      }
      const len = canonName(p, n, dst);
      if (len < 0) return -EINVAL;
      store<u8>(dst, KIND_NAME);
      return len + 1;
    }
    if (parseV6(p, n, dst + 1) != 0) return -EINVAL;
  }
  if (isV4Mapped(dst + 1)) {
    memory.copy(dst + 1, dst + 13, 4);
    store<u8>(dst, KIND_V4);
    return 5;
  }
  store<u8>(dst, KIND_V6);
  return 17;
}

/**
 * The canonical form of a socket address's IP (NET_ADDR_BYTES at `addr`: family 4 or 6, then its
 * address bytes from offset 4) into dst: its length (5 or 17). A family-6 IPv4-mapped address
 * (::ffff:a.b.c.d) is the IPv4 address, as it is for a connect target: the same host either way,
 * so an app cannot reach by one spelling what the allowlist refuses by the other.
 */
export function netCanonicalOfSocketAddress(addr: usize, dst: usize): i32 {
  if (load<u8>(addr) == 4 || isV4Mapped(addr + 4)) {
    store<u8>(dst, KIND_V4);
    memory.copy(dst + 1, addr + (load<u8>(addr) == 4 ? 4 : 16), 4);
    return 5;
  }
  store<u8>(dst, KIND_V6);
  memory.copy(dst + 1, addr + 4, 16);
  return 17;
}

/**
 * Whether the canonical target [t, t+tn) is allowed by the canonical entry [e, e+en): the same
 * address, the same name, or a name ending in "." + the wildcard's suffix.
 */
export function netEntryMatches(e: usize, en: i32, t: usize, tn: i32): bool {
  if (en < 2 || tn < 2) return false;
  const ek = load<u8>(e), tk = load<u8>(t);
  if (ek == KIND_WILDCARD) {
    if (tk != KIND_NAME) return false;
    const suffix = en - 1;
    const name = tn - 1;
    if (name < suffix + 2) return false; // at least one label and its dot before the suffix
    if (load<u8>(t + 1 + <usize>(name - suffix - 1)) != 0x2e) return false;
    return memory.compare(t + 1 + <usize>(name - suffix), e + 1, <usize>suffix) == 0;
  }
  return ek == tk && en == tn && memory.compare(e, t, <usize>en) == 0;
}
