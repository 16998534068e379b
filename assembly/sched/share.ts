// share: each app's share of the core's shared pools (handle rows, timer slots, open storage files,
// channel ends, security processor requests, sockets).
//
// What it is: a count per (pool, app slot) of the rows the app's tasks hold, and the rule that
// decides whether an app may take one more. For a pool of `capacity` rows:
// - an app holds at most capacity / SHARE_MAX_DIVISOR rows (a quarter), so no two apps can empty it;
// - every installed app is guaranteed capacity / MAX_APPS rows (its floor): a row beyond an app's
//   floor is given only if the free rows left still cover the unused floors of every other
//   installed app. So an app that asks for no more than its floor is never refused for a pool
//   that others have taken.
// Invariants: use(pool, app) equals the rows of that pool whose owner task belongs to `app`
// (callers pair shareTake/shareGive with every take/free); all counts are 0 after reset.
// Budget: SHARE_TABLE_BYTES static bytes; O(MAX_APPS) per take, O(1) per give; no heap.
// Must not: allocate, or decide anything but the share (the pools keep their own rows).
import { MAX_APPS, LIMIT_APP_HANDLES, LIMIT_APP_TIMERS, LIMIT_STORAGE_OPEN, LIMIT_CHANNELS, LIMIT_MAILBOX, LIMIT_SOCKETS, SHARE_MAX_DIVISOR } from "../abi";
import { appValid } from "../appmgr/apps";

export const POOL_HANDLES: i32 = 0;
export const POOL_TIMERS: i32 = 1;
export const POOL_STORAGE: i32 = 2;
export const POOL_CHANNELS: i32 = 3;
export const POOL_MAILBOX: i32 = 4;
export const POOL_SOCKETS: i32 = 5;
const POOLS: i32 = 6;
export const SHARE_TABLE_BYTES: i32 = POOLS * MAX_APPS * 4;
const counts = memory.data(SHARE_TABLE_BYTES, 4);

function countAt(pool: i32, app: i32): usize { return counts + (<usize>(pool * MAX_APPS + app) << 2); }

export function shareReset(): void { memory.fill(counts, 0, <usize>SHARE_TABLE_BYTES); }

/** Rows of `pool` app `app` holds. */
export function shareUse(pool: i32, app: i32): i32 {
  return app >= 0 && app < MAX_APPS ? load<i32>(countAt(pool, app)) : 0;
}

/** The most rows of a pool of `capacity` one app may hold. */
export function shareMax(capacity: i32): i32 { return capacity / SHARE_MAX_DIVISOR; }
/** The rows of a pool of `capacity` each installed app is guaranteed. */
export function shareFloor(capacity: i32): i32 { return capacity / MAX_APPS; }

/** The LIMIT_* an app's share of `pool` is reported as. */
export function shareLimitId(pool: i32): i32 {
  return pool == POOL_TIMERS ? LIMIT_APP_TIMERS : pool == POOL_STORAGE ? LIMIT_STORAGE_OPEN : pool == POOL_CHANNELS ? LIMIT_CHANNELS : pool == POOL_MAILBOX ? LIMIT_MAILBOX : pool == POOL_SOCKETS ? LIMIT_SOCKETS : LIMIT_APP_HANDLES;
}

/**
 * May app `app` take one more row of `pool` (`capacity` rows, `inUse` taken by everyone)? The
 * caller still needs a free row; this answers only whether the share allows it.
 */
export function shareAllows(pool: i32, app: i32, capacity: i32, inUse: i32): bool {
  if (app < 0 || app >= MAX_APPS) return false;
  const mine = shareUse(pool, app);
  if (mine >= shareMax(capacity)) return false;
  const floor = shareFloor(capacity);
  if (mine < floor) return true;
  let reserved = 0;
  for (let s = 0; s < MAX_APPS; s++) {
    if (s == app || !appValid(s)) continue;
    const unused = floor - shareUse(pool, s);
    if (unused > 0) reserved += unused;
  }
  return capacity - inUse - 1 >= reserved;
}

export function shareTake(pool: i32, app: i32): void {
  if (app >= 0 && app < MAX_APPS) store<i32>(countAt(pool, app), load<i32>(countAt(pool, app)) + 1);
}

export function shareGive(pool: i32, app: i32): void {
  if (app < 0 || app >= MAX_APPS) return;
  const n = load<i32>(countAt(pool, app));
  if (n > 0) store<i32>(countAt(pool, app), n - 1);
}
