// budget: each app's CPU budget (the manifest's CpuBudget.FuelPerSecond), over device time.
//
// What it is: the rule that holds an app's tasks back once it used its budget. Core time is cut
// into windows of CPU_BUDGET_WINDOW_MS (window k is [k x W, (k + 1) x W)); every slice's fuel is
// added to its app's count for the window it ends in; an app whose count reached its budget is
// not chosen until the next window. A slice is not cut short, so the count may pass the budget
// by one slice: what it passed by is carried into the next window, so over n windows an app uses
// at most n x budget + one slice of fuel (DESIGN.md, "Scheduling").
// Invariants: an app without a budget (cpuBudgetFuel 0) is never held back and nothing here runs
// for it; cpuWindowFuel counts window cpuWindow only; cpuThrottled is 1 iff cpuWindowFuel >=
// cpuBudgetFuel for the current window.
// Budget: no tables of its own (five fields of the app row); O(1) per call; no heap.
// Must not: allocate, or hold back an app without a budget.
import { CPU_BUDGET_WINDOW_MS, EV_LIMIT, LIMIT_CPU_BUDGET, MAX_APPS } from "../abi";
import { App, appAt } from "../appmgr/apps";
import { auditRecord } from "../audit/ring";

function windowOf(nowMs: f64): f64 { return Math.floor(nowMs / <f64>CPU_BUDGET_WINDOW_MS); }

/** Moves `app`'s count to the window of `nowMs`: each window passed takes one budget off it. */
function roll(app: App, nowMs: f64): void {
  const w = windowOf(nowMs);
  if (w <= app.cpuWindow) return;
  if (app.cpuThrottled) {
    // Held back until the window it was throttled in ended.
    app.cpuThrottledMs += (app.cpuWindow + 1) * <f64>CPU_BUDGET_WINDOW_MS - app.cpuThrottledSinceMs;
    app.cpuThrottled = 0;
  }
  const left = app.cpuWindowFuel - app.cpuBudgetFuel * (w - app.cpuWindow);
  app.cpuWindowFuel = left > 0 ? left : 0;
  app.cpuWindow = w;
  if (app.cpuWindowFuel >= app.cpuBudgetFuel) { app.cpuThrottled = 1; app.cpuThrottledSinceMs = w * <f64>CPU_BUDGET_WINDOW_MS; }
}

/** Starts the budget of a newly installed app: `fuelPerWindow`, 0 for none. */
export function budgetInstall(slot: i32, fuelPerWindow: f64): void {
  const app = appAt(slot);
  app.cpuBudgetFuel = fuelPerWindow;
  app.cpuWindow = 0;
  app.cpuWindowFuel = 0;
  app.cpuThrottled = 0;
  app.cpuThrottledSinceMs = 0;
  app.cpuThrottledMs = 0;
}

/** May app `slot`'s tasks be chosen at `nowMs`? */
export function budgetAllows(slot: i32, nowMs: f64): bool {
  if (slot < 0 || slot >= MAX_APPS) return true;
  const app = appAt(slot);
  if (app.cpuBudgetFuel <= 0) return true;
  roll(app, nowMs);
  return !app.cpuThrottled;
}

/** Charges a slice of `fuel` that ended at `nowMs` (task `task`) to app `slot`. */
export function budgetCharge(slot: i32, task: i32, fuel: f64, nowMs: f64): void {
  const app = appAt(slot);
  if (app.cpuBudgetFuel <= 0) return;
  roll(app, nowMs);
  app.cpuWindowFuel += fuel;
  if (!app.cpuThrottled && app.cpuWindowFuel >= app.cpuBudgetFuel) {
    app.cpuThrottled = 1;
    app.cpuThrottledSinceMs = nowMs;
    auditRecord(EV_LIMIT, task, slot, -1, LIMIT_CPU_BUDGET, 0);
  }
}

/** When app `slot`'s tasks may run again: the start of its next window; -1 when not held back. */
export function budgetResumeMs(slot: i32): f64 {
  if (slot < 0 || slot >= MAX_APPS) return -1;
  const app = appAt(slot);
  return app.cpuThrottled ? (app.cpuWindow + 1) * <f64>CPU_BUDGET_WINDOW_MS : -1;
}

/** Fuel app `slot` used in the current window (with what the last one overran), as of `nowMs`. */
export function budgetWindowFuel(slot: i32, nowMs: f64): f64 {
  const app = appAt(slot);
  if (app.cpuBudgetFuel <= 0) return 0;
  roll(app, nowMs);
  return app.cpuWindowFuel;
}

/** Device ms app `slot` was held back by its budget since install, as of `nowMs`. */
export function budgetThrottledMs(slot: i32, nowMs: f64): f64 {
  const app = appAt(slot);
  if (app.cpuBudgetFuel <= 0) return 0;
  roll(app, nowMs);
  return app.cpuThrottledMs + (app.cpuThrottled && nowMs > app.cpuThrottledSinceMs ? nowMs - app.cpuThrottledSinceMs : 0);
}
