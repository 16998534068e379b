// kmem: the core's heap allocator.
//
// What it is: a first-fit free-list allocator over [__heap_base, 4 MiB). The core never uses
// AssemblyScript's managed heap (the build uses the stub runtime and nothing calls `new`); every
// dynamic byte the core owns comes from here, so the heap figures in the memory map are exact.
// Invariants:
//   - heapTopBytes (the highest byte ever handed out) + the bytes reserved for apps never exceed
//     the 4 MiB of linear memory. kalloc refuses (returns 0) rather than cross that line, and
//     app reservations are refused rather than overlap the heap (see reserveAppBytes).
//   - Blocks are 8-byte aligned and carry an 8-byte header {sizeBytes, nextFree}.
// Budget: 8 bytes of header per live block, no other overhead.
// Must not: call memory.grow (memory is fixed at 64 pages), trap on exhaustion, or allocate in a
// scheduler hot path (callers allocate at install, start and mount only).

export const MEMORY_BYTES: usize = 64 * 65536;
const HEADER_BYTES: usize = 8;
const ALIGN_MASK: usize = 7;

let heapStart: usize = (__heap_base + ALIGN_MASK) & ~ALIGN_MASK;
let arenaEnd: usize = MEMORY_BYTES;
let heapTop: usize = heapStart; // end of the highest block ever carved
let freeList: usize = 0; // singly linked, sorted by address
let inUseBytes: usize = 0;
let peakInUseBytes: usize = 0;
let appReservedBytes: usize = 0;

/**
 * Moves the heap to [start, end). Only for unit specs, whose test runtime owns __heap_base;
 * the core itself always uses [__heap_base, 4 MiB).
 */
export function kmemUseArena(start: usize, end: usize): void {
  heapStart = (start + ALIGN_MASK) & ~ALIGN_MASK;
  arenaEnd = end;
  heapTop = heapStart;
  freeList = 0;
  inUseBytes = 0;
  peakInUseBytes = 0;
  appReservedBytes = 0;
}

/** Bytes of static data (data segments and fixed tables) below the heap. */
export function staticBytes(): usize { return heapStart; }
export function heapInUseBytes(): usize { return inUseBytes; }
export function heapPeakBytes(): usize { return peakInUseBytes; }
/** Highest address the heap has reached: the heap's share of the 4 MiB. */
export function heapSpanBytes(): usize { return heapTop - heapStart; }
export function appReservedTotalBytes(): usize { return appReservedBytes; }
export function freeBytes(): usize { return arenaEnd - heapTop - appReservedBytes; }

/** Returns a zeroed block of at least `bytes`, or 0 when the core is out of memory. */
export function kalloc(bytes: usize): usize {
  if (bytes == 0 || bytes > arenaEnd) return 0;
  let size = (bytes + HEADER_BYTES + ALIGN_MASK) & ~ALIGN_MASK;
  // First fit in the free list; split when the remainder can hold a header and 8 bytes.
  let prev: usize = 0;
  let cur = freeList;
  while (cur != 0) {
    let curSize = load<usize>(cur);
    if (curSize >= size) {
      let next = load<usize>(cur, 4);
      if (curSize - size >= HEADER_BYTES + 8) {
        let rest = cur + size;
        store<usize>(rest, curSize - size);
        store<usize>(rest, next, 4);
        next = rest;
        store<usize>(cur, size);
      } else {
        size = curSize;
      }
      if (prev == 0) freeList = next; else store<usize>(prev, next, 4);
      return finish(cur, size);
    }
    prev = cur;
    cur = load<usize>(cur, 4);
  }
  // Carve from the top, unless that would run into the app reservation.
  if (heapTop + size + appReservedBytes > arenaEnd) return 0;
  let block = heapTop;
  heapTop += size;
  store<usize>(block, size);
  return finish(block, size);
}

function finish(block: usize, size: usize): usize {
  inUseBytes += size;
  if (inUseBytes > peakInUseBytes) peakInUseBytes = inUseBytes;
  memory.fill(block + HEADER_BYTES, 0, size - HEADER_BYTES);
  return block + HEADER_BYTES;
}

/** Returns a block from kalloc. Freeing 0 is a no-op. */
export function kfree(ptr: usize): void {
  if (ptr == 0) return;
  let block = ptr - HEADER_BYTES;
  let size = load<usize>(block);
  inUseBytes -= size;
  // Insert sorted by address, then merge with neighbours so the heap does not fragment.
  let prev: usize = 0;
  let cur = freeList;
  while (cur != 0 && cur < block) { prev = cur; cur = load<usize>(cur, 4); }
  store<usize>(block, cur, 4);
  if (prev == 0) freeList = block; else store<usize>(prev, block, 4);
  if (cur != 0 && block + size == cur) {
    size += load<usize>(cur);
    store<usize>(block, size);
    store<usize>(block, load<usize>(cur, 4), 4);
  }
  if (prev != 0 && prev + load<usize>(prev) == block) {
    store<usize>(prev, load<usize>(prev) + size);
    store<usize>(prev, load<usize>(block, 4), 4);
    block = prev;
  }
  // A free block at the very top goes back to the unused region.
  if (block + load<usize>(block) == heapTop) {
    heapTop = block;
    unlinkFree(block);
  }
}

function unlinkFree(block: usize): void {
  let prev: usize = 0;
  let cur = freeList;
  while (cur != 0 && cur != block) { prev = cur; cur = load<usize>(cur, 4); }
  if (cur == 0) return;
  let next = load<usize>(cur, 4);
  if (prev == 0) freeList = next; else store<usize>(prev, next, 4);
}

/** Reserves RAM for an app; false when it does not fit beside the core's heap. */
export function reserveAppBytes(bytes: usize): bool {
  if (bytes > arenaEnd) return false;
  if (heapTop + appReservedBytes + bytes > arenaEnd) return false;
  appReservedBytes += bytes;
  return true;
}

export function releaseAppBytes(bytes: usize): void {
  appReservedBytes = bytes > appReservedBytes ? 0 : appReservedBytes - bytes;
}
