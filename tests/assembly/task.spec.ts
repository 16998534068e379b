// Task identity: set once at spawn from the installed app, inherited by anything a task spawns,
// and the basis of every decision the security hook makes.
import { STOP_TRAPPED, STOP_YIELDED, TASK_FAILED, TASK_BACKOFF, TASK_EXITED, SYS_GPIO_OPEN_OUTPUT, EACCES, TASK_READY } from "../../assembly/abi";
import { sched_next, sched_report, task_app, task_state, syscall, app_stop } from "../../assembly/exports";
import { taskAt, taskSpawn, taskIsOf, NO_TASK } from "../../assembly/task/table";
import { readyPush } from "../../assembly/sched/scheduler";
import { appAt } from "../../assembly/appmgr/apps";
import { boot, manifest, startApp, install } from "./kernel-support";

describe("task identity", () => {
  it("a main task carries its app's slot and ComponentId", () => {
    boot();
    install(manifest("other", "000000000009"));
    const t = startApp(manifest("main", "0000000000aa"));
    expect(task_app(t)).toBe(1);
    expect(taskAt(t).idHi).toBe(0x1689d8b2c8352e27);
    expect(taskAt(t).idLo).toBe(0x27ad0000000000aa);
    expect(taskIsOf(t, 1, appAt(1).idHi, appAt(1).idLo)).toBe(true);
    expect(taskIsOf(t, 0, appAt(0).idHi, appAt(0).idLo)).toBe(false);
  });
  it("a spawned task inherits its parent's identity, and so do its own children", () => {
    boot();
    const parent = startApp(manifest("parent", "0000000000aa", ", \"Capabilities\": {\"Gpio\": [8]}"));
    const child = taskSpawn(parent, 2);
    expect(child).toBeGreaterThanOrEqual(0);
    expect(child).not.toBe(parent);
    expect(task_app(child)).toBe(task_app(parent));
    expect(taskAt(child).idHi).toBe(taskAt(parent).idHi);
    expect(taskAt(child).idLo).toBe(taskAt(parent).idLo);
    expect(taskAt(child).parent).toBe(parent);
    expect(taskAt(child).priority).toBe(2);
    const grandchild = taskSpawn(child, 4);
    expect(taskIsOf(grandchild, task_app(parent), taskAt(parent).idHi, taskAt(parent).idLo)).toBe(true);
    // A child holds its parent's grants and no more.
    readyPush(child);
    expect(sched_next(0)).toBe(child);
    expect(syscall(child, SYS_GPIO_OPEN_OUTPUT, 8, 0, 0, 0)).toBeGreaterThan(0);
    expect(syscall(child, SYS_GPIO_OPEN_OUTPUT, 9, 0, 0, 0)).toBe(-EACCES);
  });
  it("nothing can be spawned from a task that is not live", () => {
    boot();
    expect(taskSpawn(NO_TASK, 4)).toBe(NO_TASK);
    expect(taskSpawn(31, 4)).toBe(NO_TASK);
    expect(taskSpawn(1000, 4)).toBe(NO_TASK);
  });
  it("a spawned task that traps ends alone; the app's main task is restarted", () => {
    boot();
    const parent = startApp(manifest("parent", "0000000000aa"));
    const child = taskSpawn(parent, 1);
    readyPush(child);
    expect(sched_next(0)).toBe(child);
    expect(sched_report(child, STOP_TRAPPED, 0, 1)).toBe(0);
    expect(task_state(child)).toBe(TASK_FAILED);
    expect(task_state(parent)).toBe(TASK_READY);
    expect(sched_next(0)).toBe(parent);
    expect(sched_report(parent, STOP_TRAPPED, 0, 1)).toBe(0);
    expect(task_state(parent)).toBe(TASK_BACKOFF);
  });
  it("stopping an app ends its spawned tasks too", () => {
    boot();
    const parent = startApp(manifest("parent", "0000000000aa"));
    const child = taskSpawn(parent, 4);
    readyPush(child);
    expect(app_stop(0)).toBe(0);
    expect(task_state(child)).toBe(TASK_EXITED);
    expect(sched_next(0)).toBe(-11);
  });
});
