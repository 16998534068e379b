// Pool shares: an app holds at most a quarter of a pool, and every installed app keeps its floor
// (pool / MAX_APPS) while others take the rest.
import { MAX_APPS, MAX_TIMERS, SHARE_MAX_DIVISOR } from "../../assembly/abi";
import { POOL_TIMERS, shareAllows, shareTake, shareGive, shareUse } from "../../assembly/sched/share";
import { boot, install, manifest } from "./kernel-support";

const CAPACITY: i32 = MAX_TIMERS;
const CAP: i32 = CAPACITY / SHARE_MAX_DIVISOR;
const FLOOR: i32 = CAPACITY / MAX_APPS;

/** Takes rows for `app` while the share allows; returns how many it got. `inUse` is shared. */
function takeAll(app: i32, inUse: i32[]): i32 {
  let n = 0;
  while (inUse[0] < CAPACITY && shareAllows(POOL_TIMERS, app, CAPACITY, inUse[0])) { shareTake(POOL_TIMERS, app); inUse[0]++; n++; }
  return n;
}

describe("share", () => {
  it("caps an app at a quarter and keeps each other installed app's floor", () => {
    boot();
    for (let i = 0; i < 6; i++) expect(install(manifest("app" + i.toString(), "00000000000" + i.toString()))).toBe(i);
    const inUse: i32[] = [0];
    expect(CAP).toBe(64);
    expect(FLOOR).toBe(4);
    expect(takeAll(0, inUse)).toBe(CAP);
    expect(takeAll(1, inUse)).toBe(CAP);
    expect(takeAll(2, inUse)).toBe(CAP);
    // 64 left; apps 4 and 5 keep their floor of 4 each, so app 3 gets 56.
    expect(takeAll(3, inUse)).toBe(CAPACITY - 3 * CAP - 2 * FLOOR);
    expect(takeAll(4, inUse)).toBe(FLOOR);
    expect(takeAll(5, inUse)).toBe(FLOOR);
    expect(inUse[0]).toBe(CAPACITY);
    // A row given back is the giver's share again.
    shareGive(POOL_TIMERS, 0);
    inUse[0]--;
    expect(shareUse(POOL_TIMERS, 0)).toBe(CAP - 1);
    expect(shareAllows(POOL_TIMERS, 0, CAPACITY, inUse[0])).toBe(true);
    expect(shareAllows(POOL_TIMERS, -1, CAPACITY, 0)).toBe(false);
    expect(shareAllows(POOL_TIMERS, MAX_APPS, CAPACITY, 0)).toBe(false);
  });
});
