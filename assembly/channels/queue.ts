// channels/queue: one direction of an app-to-app channel: a bounded queue of whole messages.
//
// What it is: a ring of `depth` slots of `msgMaxBytes` each, allocated from the core heap (kmem)
// when a channel opens and freed when it closes, so the apps that hold the channel are charged for
// it (callers count chanQueueBytes against their grants). A message goes in whole or not at all:
// a full queue is -EAGAIN and the queue is unchanged; a message longer than msgMaxBytes is
// -EMSGSIZE. A message comes out whole: a receive buffer shorter than the message is -EMSGSIZE and
// the message stays at the head, so nothing is ever lost or split.
// Layout at the queue's address: u32 depth, u32 msgMaxBytes, u32 head, u32 count, then `depth`
// slots of {u32 length, msgMaxBytes bytes}.
// Invariants: 0 <= count <= depth; head < depth; each occupied slot's length <= msgMaxBytes.
// Memory: CHAN_QUEUE_HEADER_BYTES + depth * (4 + msgMaxBytes) of heap per queue, nothing static.
// Must not: allocate outside chanQueueAlloc, or touch memory outside the queue and the caller's
// buffer (whose bounds the caller has checked).
import { EAGAIN, EINVAL, EMSGSIZE } from "../abi";
import { kalloc, kfree } from "../kmem";

export const CHAN_QUEUE_HEADER_BYTES: u32 = 16;
/** The largest message and the deepest queue a channel may have (bounds what one app can charge). */
export const CHAN_MSG_MAX_BYTES: u32 = 1024;
export const CHAN_DEPTH_MAX: u32 = 32;

@inline function slotBytes(q: usize): usize { return 4 + <usize>load<u32>(q, 4); }
@inline function slotAt(q: usize, i: u32): usize { return q + CHAN_QUEUE_HEADER_BYTES + <usize>i * slotBytes(q); }

/** The heap bytes a queue of this shape takes. */
export function chanQueueBytes(depth: u32, msgMaxBytes: u32): u32 {
  return CHAN_QUEUE_HEADER_BYTES + depth * (4 + msgMaxBytes);
}

/** A new empty queue, or 0: the shape is out of bounds, or the heap cannot hold it. */
export function chanQueueAlloc(depth: u32, msgMaxBytes: u32): usize {
  if (depth == 0 || depth > CHAN_DEPTH_MAX || msgMaxBytes == 0 || msgMaxBytes > CHAN_MSG_MAX_BYTES) return 0;
  const q = kalloc(<usize>chanQueueBytes(depth, msgMaxBytes));
  if (q == 0) return 0;
  store<u32>(q, depth, 0);
  store<u32>(q, msgMaxBytes, 4);
  store<u32>(q, 0, 8);
  store<u32>(q, 0, 12);
  return q;
}

export function chanQueueFree(q: usize): void { if (q != 0) kfree(q); }

export function chanQueueCount(q: usize): u32 { return load<u32>(q, 12); }
export function chanQueueDepth(q: usize): u32 { return load<u32>(q, 0); }

/** Appends the message [src, src+len): 0, -EAGAIN (full; nothing changed), -EMSGSIZE, or -EINVAL. */
export function chanQueuePush(q: usize, src: usize, len: i32): i32 {
  if (len < 0) return -EINVAL;
  if (<u32>len > load<u32>(q, 4)) return -EMSGSIZE;
  const depth = load<u32>(q, 0);
  const count = load<u32>(q, 12);
  if (count >= depth) return -EAGAIN;
  const at = slotAt(q, (load<u32>(q, 8) + count) % depth);
  store<u32>(at, <u32>len);
  memory.copy(at + 4, src, <usize>len);
  store<u32>(q, count + 1, 12);
  return 0;
}

/** The length of the message at the head, or -EAGAIN when the queue is empty. */
export function chanQueuePeekBytes(q: usize): i32 {
  if (load<u32>(q, 12) == 0) return -EAGAIN;
  return <i32>load<u32>(slotAt(q, load<u32>(q, 8)));
}

/** The address of the head message's bytes (chanQueuePeekBytes of them); the queue must not be empty. */
export function chanQueuePeekAt(q: usize): usize { return slotAt(q, load<u32>(q, 8)) + 4; }

/** Drops the head message (after the caller copied it from chanQueuePeekAt); the queue must not be empty. */
export function chanQueueDrop(q: usize): void {
  store<u32>(q, (load<u32>(q, 8) + 1) % load<u32>(q, 0), 8);
  store<u32>(q, load<u32>(q, 12) - 1, 12);
}

/**
 * Takes the message at the head into [dst, dst+cap): its length; -EAGAIN when empty; -EMSGSIZE
 * when cap is shorter than the message, which then stays at the head.
 */
export function chanQueuePop(q: usize, dst: usize, cap: i32): i32 {
  const len = chanQueuePeekBytes(q);
  if (len < 0) return len;
  if (cap < len) return -EMSGSIZE;
  const head = load<u32>(q, 8);
  memory.copy(dst, slotAt(q, head) + 4, <usize>len);
  store<u32>(q, (head + 1) % load<u32>(q, 0), 8);
  store<u32>(q, load<u32>(q, 12) - 1, 12);
  return len;
}
