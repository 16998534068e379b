import { kalloc, kfree, heapInUseBytes, heapPeakBytes, reserveAppBytes, releaseAppBytes, freeBytes } from "../../assembly/kmem";

describe("kmem", () => {
  it("allocates zeroed, aligned blocks and returns them", () => {
    const before = heapInUseBytes();
    const a = kalloc(10);
    expect(a).toBeGreaterThan(0);
    expect(a & 7).toBe(0);
    expect(load<u8>(a + 9)).toBe(0);
    const b = kalloc(100);
    expect(b).toBeGreaterThan(a);
    kfree(a);
    kfree(b);
    expect(heapInUseBytes()).toBe(before);
    expect(heapPeakBytes()).toBeGreaterThanOrEqual(before + 16 + 104);
  });
  it("reuses freed blocks first-fit", () => {
    const a = kalloc(64);
    const b = kalloc(64);
    kfree(a);
    const c = kalloc(32);
    expect(c).toBe(a);
    kfree(b);
    kfree(c);
  });
  it("refuses rather than crossing the app reservation", () => {
    const free = freeBytes();
    expect(reserveAppBytes(free)).toBe(true);
    expect(kalloc(64)).toBe(0);
    expect(reserveAppBytes(8)).toBe(false);
    releaseAppBytes(free);
    const p = kalloc(64);
    expect(p).toBeGreaterThan(0);
    kfree(p);
  });
});
