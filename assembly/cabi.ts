// cabi: the canonical ABI's memory for the lists that cross the core's boundary (wit/wasphere.wit).
//
// What it is: a bump arena of CABI_ARENA_BYTES static bytes behind the `cabi_realloc` export, and
// the return areas the core passes to hal calls whose results do not fit one value.
// - A list the host passes to an export is lowered by the host: it calls cabi_realloc for the
//   bytes, writes them there, and passes (ptr, len). An export reads such a list only when it lies
//   inside the arena (`arenaHolds`), so a host can never make the core read past its own memory.
// - A list a hal call returns (flash-read, app-copy-in) is allocated by the host the same way
//   during the call; the core copies it out and gives the bytes back (`arenaRelease`) before the
//   wrapper in hal/index.ts returns.
// Invariants: every allocation lies in [arena, arena + CABI_ARENA_BYTES); the arena is empty
// again when an export that takes a list returns (`arenaReset` on each of its return paths), and
// after each hal call returning a list (release to the mark taken before it); nothing keeps a
// pointer into the arena across calls.
// An allocation that does not fit traps in cabi_realloc (the canonical ABI has no failure value:
// any pointer returned would be written to) before the bump pointer moves, so core memory is
// untouched; hosts check a list's length against CABI_ARENA_BYTES first and never get there.
// Budget: CABI_ARENA_BYTES + IMPORT_RET_BYTES + EXPORT_RET_BYTES static bytes.
// Must not: allocate from the heap, or be used by the core for anything but lists crossing.
import { CABI_ARENA_BYTES } from "./abi";

const arena: usize = memory.data(CABI_ARENA_BYTES, 16);
const arenaEnd: usize = arena + <usize>CABI_ARENA_BYTES;
let arenaTop: usize = arena;

/** The return area of a hal call with a list result (result<list<u8>, s32>: 12 bytes). */
export const IMPORT_RET_BYTES: i32 = 16;
export const importRet: usize = memory.data(IMPORT_RET_BYTES, 8);
/** The return area of an export whose results do not flatten to one value (the largest,
 *  result<pkg-info, s32>, is 96 bytes). The host reads it right after the call. */
export const EXPORT_RET_BYTES: i32 = 96;
export const exportRet: usize = memory.data(EXPORT_RET_BYTES, 8);

/**
 * The canonical ABI's allocator. `align` must be a power of two; a grow of the newest
 * allocation stays in place. Traps (unreachable) when the bytes do not fit the arena.
 */
export function cabi_realloc(oldPtr: usize, oldSize: usize, align: usize, newSize: usize): usize {
  if (align == 0 || (align & (align - 1)) != 0 || align > 16) unreachable();
  if (oldPtr != 0 && oldPtr + oldSize == arenaTop && (oldPtr & (align - 1)) == 0 && oldPtr >= arena) {
    if (newSize > arenaEnd - oldPtr) unreachable();
    arenaTop = oldPtr + newSize;
    return oldPtr;
  }
  const start = (arenaTop + align - 1) & ~(align - 1);
  if (start > arenaEnd || newSize > arenaEnd - start) unreachable();
  if (oldPtr != 0) {
    if (!arenaHolds(oldPtr, <i32>oldSize)) unreachable();
    memory.copy(start, oldPtr, oldSize < newSize ? oldSize : newSize);
  }
  arenaTop = start + newSize;
  return start;
}

/** [ptr, ptr + len) lies in what the arena has handed out (an empty list may point anywhere). */
export function arenaHolds(ptr: usize, len: i32): bool {
  if (len == 0) return true;
  return len > 0 && ptr >= arena && ptr <= arenaTop && <usize>len <= arenaTop - ptr;
}

export function arenaFreeBytes(): i32 { return <i32>(arenaEnd - arenaTop); }
export function arenaMark(): usize { return arenaTop; }
export function arenaRelease(mark: usize): void { if (mark >= arena && mark <= arenaTop) arenaTop = mark; }
export function arenaReset(): void { arenaTop = arena; }

/** Writes result<list<u8>, s32>'s ok case (ptr, len) into the export return area. */
export function retList(ptr: usize, len: i32): usize {
  store<u8>(exportRet, 0);
  store<u32>(exportRet, <u32>ptr, 4);
  store<u32>(exportRet, <u32>len, 8);
  return exportRet;
}
/** Writes any result<T, s32>'s error case (a negative errno) into the export return area; the
 *  payload starts at `payloadOffset`, 4 unless T is 8-aligned (holds a u64 or f64: then 8). */
export function retErr(errno: i32, payloadOffset: usize = 4): usize {
  store<u8>(exportRet, 1);
  store<i32>(exportRet + payloadOffset, errno);
  return exportRet;
}
/** Marks the export return area as an ok result; the payload at offset 4 is the caller's. */
export function retOk(): usize {
  store<u8>(exportRet, 0);
  return exportRet;
}
