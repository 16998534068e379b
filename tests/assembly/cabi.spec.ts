// cabi_realloc over the core's static arena (assembly/cabi.ts): a grow of the newest allocation
// stays in place up to the arena's last byte; any other grow moves, copies what was there and
// aligns; a mark released gives the bytes back. The hosts only ever pass oldPtr 0 (lists are
// lowered whole), so these paths are the canonical ABI's and are checked here alone.
import { cabi_realloc, arenaFreeBytes, arenaMark, arenaRelease, arenaReset } from "../../assembly/cabi";

describe("cabi_realloc", () => {
  it("grows the newest allocation in place, to the arena's very end", () => {
    arenaReset();
    const p = cabi_realloc(0, 0, 1, 8);
    store<u8>(p, 7);
    const free = arenaFreeBytes();
    expect(cabi_realloc(p, 8, 1, 100)).toBe(p);
    expect(arenaFreeBytes()).toBe(free - 92);
    expect(cabi_realloc(p, 100, 1, 100 + free - 92)).toBe(p);
    expect(arenaFreeBytes()).toBe(0);
    expect(load<u8>(p)).toBe(7);
    arenaReset();
  });
  it("moves an allocation that is not the newest, copying its bytes and leaving the newer one alone", () => {
    arenaReset();
    const p = cabi_realloc(0, 0, 1, 4);
    store<u32>(p, 0x04030201);
    const q = cabi_realloc(0, 0, 1, 4);
    store<u32>(q, 0xaabbccdd);
    const r = cabi_realloc(p, 4, 1, 8);
    expect(r).not.toBe(p);
    expect(load<u32>(r)).toBe(0x04030201);
    expect(load<u32>(q)).toBe(0xaabbccdd);
    const s = cabi_realloc(r, 8, 1, 2);
    expect(s).toBe(r, "the newest, shrunk in place");
    arenaReset();
  });
  it("moves the newest allocation when it is not aligned as asked", () => {
    arenaReset();
    cabi_realloc(0, 0, 1, 1);
    const p = cabi_realloc(0, 0, 1, 3);
    expect(p & 7).not.toBe(0);
    store<u8>(p, 1); store<u8>(p + 1, 2); store<u8>(p + 2, 3);
    const q = cabi_realloc(p, 3, 8, 16);
    expect(q & 7).toBe(0);
    expect(q).not.toBe(p);
    expect(load<u8>(q)).toBe(1);
    expect(load<u8>(q + 2)).toBe(3);
    arenaReset();
  });
  it("a released mark gives back what was allocated after it, down to the arena's start", () => {
    arenaReset();
    const full = arenaFreeBytes();
    const start = arenaMark();
    cabi_realloc(0, 0, 4, 64);
    const mid = arenaMark();
    cabi_realloc(0, 0, 4, 64);
    arenaRelease(mid);
    expect(arenaFreeBytes()).toBe(full - 64);
    arenaRelease(start);
    expect(arenaFreeBytes()).toBe(full);
    arenaReset();
  });
});
