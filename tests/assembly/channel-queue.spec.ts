// One direction of an app-to-app channel (assembly/channels/queue.ts): whole messages in order,
// a full queue refused with nothing changed, a short receive buffer refused with the message kept,
// the ring wrapping, bounds on the shape, and the heap given back.
import { EAGAIN, EMSGSIZE, EINVAL } from "../../assembly/abi";
import { chanQueueAlloc, chanQueueFree, chanQueuePush, chanQueuePop, chanQueuePeekBytes, chanQueueCount, chanQueueBytes, CHAN_DEPTH_MAX, CHAN_MSG_MAX_BYTES } from "../../assembly/channels/queue";
import { heapInUseBytes } from "../../assembly/kmem";

const buf = memory.data(2048);

function push(q: usize, text: string): i32 {
  const b = String.UTF8.encode(text);
  return chanQueuePush(q, changetype<usize>(b), b.byteLength);
}
function pop(q: usize, cap: i32 = 2048): string {
  const n = chanQueuePop(q, buf, cap);
  return n < 0 ? "E" + (-n).toString() : String.UTF8.decodeUnsafe(buf, <usize>n);
}

describe("channels/queue", () => {
  it("keeps whole messages in order, refuses a push when full and leaves the queue as it was", () => {
    const q = chanQueueAlloc(3, 16);
    expect(q).not.toBe(0);
    expect(push(q, "one")).toBe(0);
    expect(push(q, "")).toBe(0);
    expect(push(q, "three")).toBe(0);
    expect(push(q, "four")).toBe(-EAGAIN);
    expect(chanQueueCount(q)).toBe(3);
    expect(pop(q)).toBe("one");
    expect(pop(q)).toBe("");
    expect(push(q, "four")).toBe(0);
    expect(pop(q)).toBe("three");
    expect(pop(q)).toBe("four");
    expect(pop(q)).toBe("E" + EAGAIN.toString());
    chanQueueFree(q);
  });
  it("wraps around its ring many times without losing or reordering a message", () => {
    const q = chanQueueAlloc(4, 8);
    let next = 0, expectNext = 0;
    for (let round = 0; round < 50; round++) {
      const k = (round % 4) + 1;
      for (let i = 0; i < k; i++) if (push(q, "m" + next.toString()) == 0) next++;
      for (let i = 0; i < (round % 3) + 1; i++) {
        const got = pop(q);
        if (got.startsWith("E")) break;
        expect(got).toBe("m" + expectNext.toString());
        expectNext++;
      }
    }
    while (chanQueueCount(q) > 0) { expect(pop(q)).toBe("m" + expectNext.toString()); expectNext++; }
    expect(expectNext).toBe(next);
    chanQueueFree(q);
  });
  it("a message past msgMaxBytes is EMSGSIZE; a short receive buffer is EMSGSIZE and the message stays", () => {
    const q = chanQueueAlloc(2, 5);
    expect(push(q, "123456")).toBe(-EMSGSIZE);
    expect(chanQueueCount(q)).toBe(0);
    expect(push(q, "12345")).toBe(0);
    expect(chanQueuePeekBytes(q)).toBe(5);
    expect(pop(q, 4)).toBe("E" + EMSGSIZE.toString());
    expect(chanQueueCount(q)).toBe(1);
    expect(pop(q, 5)).toBe("12345");
    expect(chanQueuePush(q, buf, -1)).toBe(-EINVAL);
    chanQueueFree(q);
  });
  it("refuses shapes out of bounds, and gives its heap back", () => {
    expect(chanQueueAlloc(0, 16)).toBe(0);
    expect(chanQueueAlloc(CHAN_DEPTH_MAX + 1, 16)).toBe(0);
    expect(chanQueueAlloc(4, 0)).toBe(0);
    expect(chanQueueAlloc(4, CHAN_MSG_MAX_BYTES + 1)).toBe(0);
    const before = heapInUseBytes();
    const q = chanQueueAlloc(CHAN_DEPTH_MAX, CHAN_MSG_MAX_BYTES);
    expect(q).not.toBe(0);
    expect(<u32>(heapInUseBytes() - before)).toBeGreaterThanOrEqual(chanQueueBytes(CHAN_DEPTH_MAX, CHAN_MSG_MAX_BYTES));
    chanQueueFree(q);
    expect(heapInUseBytes()).toBe(before);
  });
});
