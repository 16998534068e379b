// Hostile apps: each one tries to hurt the device, and each test asserts exactly what the app got
// back and that the device and a well-behaved witness app carried on.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { InstallError, type InstalledApp } from "../../host/device.js";
import { appFromBytes } from "../../host/apps/package.js";
import { app, blinker, device, exitCodes, IMPORT, installAndStart, manifest, toggles, wat } from "./support.js";

const WITNESS_PIN = 20;
const RUN_MS = 2000;

async function withWitness(hostile: Uint8Array, fields: Record<string, unknown> = {}) {
  const dev = device();
  await installAndStart(dev, "witness", blinker(WITNESS_PIN, 100), { Capabilities: { Gpio: [WITNESS_PIN] } });
  await installAndStart(dev, "hostile", hostile, fields);
  await dev.run({ untilMs: RUN_MS });
  // The witness toggled every 100 ms for the whole run: the hostile app stopped nobody.
  assert.ok(toggles(dev, WITNESS_PIN) >= RUN_MS / 100 - 1, `witness kept running (${toggles(dev, WITNESS_PIN)} toggles)`);
  return dev;
}

test("an out-of-bounds pointer gets -EFAULT, not a crash", async () => {
  const dev = await withWitness(app(`${IMPORT.log} ${IMPORT.exit}`, `
    (call $exit (i32.sub (i32.const 0) (call $log (i32.const 0x7fff0000) (i32.const 16))))
    (i32.const 0)`));
  assert.deepEqual(exitCodes(dev, "hostile"), [abi.EFAULT]);
});

test("a pointer that runs off the end of the app's memory gets -EFAULT", async () => {
  const dev = await withWitness(app(`${IMPORT.log} ${IMPORT.exit}`, `
    (call $exit (i32.sub (i32.const 0) (call $log (i32.const 65530) (i32.const 16))))
    (i32.const 0)`));
  assert.deepEqual(exitCodes(dev, "hostile"), [abi.EFAULT]);
});

test("a forged handle gets -EBADF and is audited", async () => {
  const dev = await withWitness(app(`${IMPORT.set} ${IMPORT.exit}`, `
    (call $exit (i32.sub (i32.const 0) (call $set (i32.const 0x101) (i32.const 1))))
    (i32.const 0)`));
  assert.deepEqual(exitCodes(dev, "hostile"), [abi.EBADF]);
  assert.ok(dev.audit().some((a) => a.kind === abi.EV_BAD_HANDLE && a.syscall === abi.SYS_GPIO_SET));
});

test("a closed (stale) handle gets -EBADF, even after its table row is reused by a new handle", async () => {
  // Indexes rotate, so the app opens and closes, remembering the last closed value of each row
  // (at 1024 + 4 * row), until a new handle lands on a row it has closed before; only the
  // generation then tells the stale value $s from the live one $h.
  // Exit code bits: 1 stale set refused with EBADF, 2 a row was reused, 4 the values differ,
  // 8 the live handle works, 16 the pin was still low (the stale set did not drive it).
  const dev = await withWitness(app(`${IMPORT.out} ${IMPORT.set} ${IMPORT.get} ${IMPORT.close} ${IMPORT.exit}`, `
    (local $h i32) (local $s i32) (local $slot i32) (local $tries i32) (local $code i32)
    (loop $again
      (local.set $h (call $out (i32.const 30) (i32.const 0)))
      (local.set $slot (i32.add (i32.const 1024) (i32.shl (i32.and (local.get $h) (i32.const 0xff)) (i32.const 2))))
      (local.set $s (i32.load (local.get $slot)))
      (local.set $tries (i32.add (local.get $tries) (i32.const 1)))
      (if (i32.and (i32.eqz (local.get $s)) (i32.lt_u (local.get $tries) (i32.const 1000)))
        (then (i32.store (local.get $slot) (local.get $h)) (drop (call $close (local.get $h))) (br $again))))
    (if (i32.eq (call $set (local.get $s) (i32.const 1)) (i32.const -${abi.EBADF})) (then (local.set $code (i32.const 1))))
    (if (i32.ne (local.get $s) (i32.const 0)) (then (local.set $code (i32.or (local.get $code) (i32.const 2)))))
    (if (i32.ne (local.get $h) (local.get $s)) (then (local.set $code (i32.or (local.get $code) (i32.const 4)))))
    (if (i32.eqz (call $get (local.get $h))) (then (local.set $code (i32.or (local.get $code) (i32.const 16)))))
    (if (i32.eqz (call $set (local.get $h) (i32.const 1))) (then (local.set $code (i32.or (local.get $code) (i32.const 8)))))
    (call $exit (local.get $code))
    (i32.const 0)`), { Capabilities: { Gpio: [30] } });
  assert.deepEqual(exitCodes(dev, "hostile"), [31]);
  assert.ok(dev.audit().some((a) => a.kind === abi.EV_BAD_HANDLE && a.syscall === abi.SYS_GPIO_SET), "the stale use is audited");
  assert.ok(dev.events.of("gpio").some((e) => e.pin === 30 && e.level === 1 && e.source === "core"), "driven by the live handle");
  assert.equal(dev.gpio.level(30), 0, "released low when the app exited");
});

test("a handle with the right row but another generation gets -EBADF", async () => {
  // Exit code bits: 1 generation + 1 refused, 2 generation 0 refused, 4 the next 255 generations
  // all refused, 8 the real handle still works (nothing above was mistaken for it).
  const dev = await withWitness(app(`${IMPORT.out} ${IMPORT.set} ${IMPORT.exit}`, `
    (local $h i32) (local $code i32) (local $g i32) (local $refused i32)
    (local.set $h (call $out (i32.const 30) (i32.const 0)))
    (if (i32.eq (call $set (i32.add (local.get $h) (i32.const 0x100)) (i32.const 1)) (i32.const -${abi.EBADF})) (then (local.set $code (i32.const 1))))
    (if (i32.eq (call $set (i32.and (local.get $h) (i32.const 0xff)) (i32.const 1)) (i32.const -${abi.EBADF})) (then (local.set $code (i32.or (local.get $code) (i32.const 2)))))
    (local.set $g (i32.const 1))
    (loop $gens
      (if (i32.eq (call $set (i32.add (local.get $h) (i32.shl (local.get $g) (i32.const 8))) (i32.const 1)) (i32.const -${abi.EBADF}))
        (then (local.set $refused (i32.add (local.get $refused) (i32.const 1)))))
      (local.set $g (i32.add (local.get $g) (i32.const 1)))
      (br_if $gens (i32.le_u (local.get $g) (i32.const 255))))
    (if (i32.eq (local.get $refused) (i32.const 255)) (then (local.set $code (i32.or (local.get $code) (i32.const 4)))))
    (if (i32.eqz (call $set (local.get $h) (i32.const 0))) (then (local.set $code (i32.or (local.get $code) (i32.const 8)))))
    (call $exit (local.get $code))
    (i32.const 0)`), { Capabilities: { Gpio: [30] } });
  assert.deepEqual(exitCodes(dev, "hostile"), [15]);
  assert.equal(dev.gpio.level(30), 0, "no forged value ever drove the pin");
});

test("another app's handle gets -EBADF, for every value it could guess", async () => {
  const dev = await withWitness(app(`${IMPORT.set} ${IMPORT.exit}`, `
    (local $h i32) (local $denied i32)
    (loop $guess
      (if (i32.eq (call $set (local.get $h) (i32.const 0)) (i32.const -${abi.EBADF}))
        (then (local.set $denied (i32.add (local.get $denied) (i32.const 1)))))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br_if $guess (i32.lt_u (local.get $h) (i32.const 0x10000))))
    (call $exit (i32.eq (local.get $denied) (i32.const 0x10000)))
    (i32.const 0)`));
  assert.deepEqual(exitCodes(dev, "hostile"), [1]);
  // The witness's LED kept blinking: its handle was never touched.
  assert.ok(toggles(dev, WITNESS_PIN) > 0);
});

test("an undeclared pin gets -EACCES and the refusal is in the audit ring", async () => {
  const dev = await withWitness(app(`${IMPORT.out} ${IMPORT.exit}`, `
    (call $exit (i32.sub (i32.const 0) (call $out (i32.const ${WITNESS_PIN}) (i32.const 1))))
    (i32.const 0)`), { Capabilities: { Gpio: [31] } });
  assert.deepEqual(exitCodes(dev, "hostile"), [abi.EACCES]);
  const denied = dev.audit().filter((a) => a.kind === abi.EV_DENIED);
  assert.equal(denied.length, 1);
  assert.equal(denied[0].syscall, abi.SYS_GPIO_OPEN_OUTPUT);
  assert.equal(denied[0].arg, WITNESS_PIN);
  assert.equal(denied[0].result, -abi.EACCES);
  assert.match(dev.describeAudit(denied[0]), /hostile: gpio_open_output\(20\) denied with EACCES/);
});

test("an app with no capabilities cannot open any pin", async () => {
  const dev = await withWitness(app(`${IMPORT.out} ${IMPORT.in} ${IMPORT.exit}`, `
    (local $pin i32) (local $denied i32)
    (loop $all
      (if (i32.eq (call $in (local.get $pin)) (i32.const -${abi.EACCES}))
        (then (local.set $denied (i32.add (local.get $denied) (i32.const 1)))))
      (local.set $pin (i32.add (local.get $pin) (i32.const 1)))
      (br_if $all (i32.lt_u (local.get $pin) (i32.const 96))))
    (call $exit (local.get $denied))
    (i32.const 0)`));
  assert.deepEqual(exitCodes(dev, "hostile"), [96]);
});

test("an infinite loop is preempted and the others keep running", async () => {
  const dev = await withWitness(app("", `(loop $spin (br $spin)) (i32.const 0)`));
  assert.ok(dev.sliceCounts.out_of_fuel > 10, `the spinning app was preempted (${dev.sliceCounts.out_of_fuel} times)`);
  assert.deepEqual(exitCodes(dev, "hostile"), []);
});

test("a memory bomb stops at its quota: memory.grow fails and the app cannot take more", async () => {
  const dev = await withWitness(app(`${IMPORT.exit} ${IMPORT.quota}`, `
    (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (call $exit (i32.eq (i32.mul (memory.size) (i32.const 65536)) (call $quota)))
    (i32.const 0)`), { MemoryQuotaKiB: 128 });
  assert.deepEqual(exitCodes(dev, "hostile"), [1]);
});

test("deep recursion overflows the app's stack, traps that app only, and the core restarts it with backoff", async () => {
  const dev = await withWitness(wat(`(module
    (memory (export "memory") 1)
    (func $down (param i32) (result i32) (i32.add (call $down (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
    (func (export "main") (result i32) (call $down (i32.const 0))))`));
  const trapped = dev.audit().filter((a) => a.kind === abi.EV_APP_TRAPPED);
  const restarts = dev.audit().filter((a) => a.kind === abi.EV_APP_RESTART).map((a) => a.arg);
  assert.ok(trapped.length >= 2, `trapped ${trapped.length} times`);
  // Exponential backoff: each restart waits twice as long as the one before.
  for (let i = 1; i < restarts.length; i++) assert.equal(restarts[i], Math.min(restarts[i - 1] * 2, abi.RESTART_BACKOFF_MAX_MS));
});

test("an app that keeps crashing is given up after RESTART_MAX_CRASHES", async () => {
  const dev = device();
  await installAndStart(dev, "crasher", app("", `(unreachable)`));
  await dev.run({ untilMs: 60_000 });
  const kinds = dev.audit().map((a) => a.kind);
  assert.equal(kinds.filter((k) => k === abi.EV_APP_TRAPPED).length, abi.RESTART_MAX_CRASHES);
  assert.equal(kinds.filter((k) => k === abi.EV_APP_GAVE_UP).length, 1);
  assert.equal(dev.memoryMap().appReservedBytes, 0, "its quota went back to the pool");
});

test("an app importing anything outside applibs is refused at install, naming the import", async () => {
  const dev = device();
  const bad = wat(`(module (import "env" "Date_now" (func (result f64))) (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 0)))`);
  await assert.rejects(dev.install(appFromBytes("sneaky", manifest("sneaky"), bad)), (err: Error) => {
    assert.ok(err instanceof InstallError);
    assert.match(err.message, /env\.Date_now/);
    return true;
  });
  assert.equal(dev.installedApps().length, 0);
});

test("two apps claiming one pin: the second is refused with EBUSY naming the owner", async () => {
  const dev = device();
  await installAndStart(dev, "first", blinker(8, 100), { Capabilities: { Gpio: [8] } });
  await assert.rejects(dev.install(appFromBytes("second", manifest("second", { Capabilities: { Gpio: [8] } }), blinker(8, 100))), (err: Error) => {
    assert.ok(err instanceof InstallError);
    assert.equal((err as InstallError).code, -abi.EBUSY);
    assert.match(err.message, /8/);
    assert.match(err.message, /first/);
    return true;
  });
});

test("an app whose quota does not fit the RAM pool is refused at start with ENOMEM", async () => {
  const dev = device({ appQuotaCeilingBytes: 1024 * 1024 });
  const apps: InstalledApp[] = [];
  for (let i = 0; i < 5; i++) apps.push(await dev.install(appFromBytes(`big${i}`, manifest(`big${i}`, { MemoryQuotaKiB: 1024 }), blinker(40 + i, 100))));
  dev.start(apps[0]); dev.start(apps[1]); dev.start(apps[2]);
  assert.throws(() => dev.start(apps[3]), (err: InstallError) => err.code === -abi.ENOMEM && /free/.test(err.message));
});

test("an out-of-bounds load traps that app only, and the core records why", async () => {
  const dev = await withWitness(app("", `(i32.load (i32.const 0x7ffffff0))`));
  const trapped = dev.events.of("app").filter((e) => e.app === "hostile" && e.what === "trapped");
  assert.ok(trapped.length >= 1);
  assert.match(trapped[0].detail ?? "", /out of bounds/);
  assert.ok(dev.audit().some((a) => a.kind === abi.EV_APP_TRAPPED));
});

test("args_get into memory the app does not have gets -EFAULT from the host's copy, and is audited", async () => {
  // The core does not pre-check this range: the host's copy into app memory is the only guard.
  const argsGet = `(import "applibs" "args_get" (func $args (param i32 i32) (result i32)))`;
  for (const ptr of [0x7fff0000, 65530, -8]) {
    const dev = await withWitness(app(`${argsGet} ${IMPORT.exit}`, `
      (call $exit (i32.sub (i32.const 0) (call $args (i32.const ${ptr}) (i32.const 16))))
      (i32.const 0)`), { CmdArgs: ["--verbose", "x"] });
    assert.deepEqual(exitCodes(dev, "hostile"), [abi.EFAULT], `args_get(${ptr}, 16)`);
    const faults = dev.audit().filter((a) => a.kind === abi.EV_FAULT);
    assert.deepEqual(faults.map((a) => [a.syscall, a.arg]), [[abi.SYS_ARGS_GET, ptr]]);
    assert.equal(dev.events.of("app").filter((e) => e.what === "trapped").length, 0, "a fault is a return code, not a trap");
  }
});

test("a syscall for a task that is not the one running is refused with -EPERM and does nothing", async () => {
  // The host, not an app, makes these calls: a confused or hostile host caller cannot act for a
  // task between its slices, nor for one task while another runs.
  const dev = device();
  const sleeper = await installAndStart(dev, "sleeper", app(`${IMPORT.out} ${IMPORT.sleep}`, `
    (drop (call $out (i32.const 30) (i32.const 0)))
    (loop $forever (drop (call $sleep (i32.const 1000))) (br $forever))
    (i32.const 0)`), { Capabilities: { Gpio: [30, 31] } });
  const sleeperTask = dev.core.exports.app_field(sleeper.slot, abi.APP_FIELD_TASK);
  const e = dev.core.exports;
  const during: number[] = [];
  dev.events.listen((ev) => {
    if (ev.kind === "log" && ev.app === "talker") during.push(e.syscall(sleeperTask, abi.SYS_GPIO_OPEN_OUTPUT, 31, 1, 0, 0));
  });
  await installAndStart(dev, "talker", app(`${IMPORT.log} ${IMPORT.exit}`, `
    (drop (call $log (i32.const 0) (i32.const 1)))
    (call $exit (i32.const 0))
    (i32.const 0)`));
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "talker"), [0]);
  assert.deepEqual(during, [-abi.EPERM], "while another task ran");
  // Between slices: the sleeper is blocked, nobody runs.
  assert.equal(e.task_state(sleeperTask), abi.TASK_BLOCKED);
  assert.equal(e.syscall(sleeperTask, abi.SYS_GPIO_OPEN_OUTPUT, 31, 1, 0, 0), -abi.EPERM);
  for (let index = 1; index < abi.MAX_HANDLES; index++) assert.equal(e.syscall(sleeperTask, abi.SYS_GPIO_SET, index | (1 << abi.HANDLE_INDEX_BITS), 1, 0, 0), -abi.EPERM);
  assert.equal(e.syscall(sleeperTask, abi.SYS_EXIT, 3, 0, 0, 0), -abi.EPERM);
  assert.equal(dev.gpio.direction(31), -1, "pin 31 was never configured");
  assert.equal(dev.gpio.level(30), 0, "pin 30 was never driven");
  await dev.run({ untilMs: 3000 });
  assert.equal(e.task_state(sleeperTask), abi.TASK_BLOCKED, "the sleeper still runs its own loop");
  assert.deepEqual(exitCodes(dev, "sleeper"), []);
});

test("a task that blocked in a syscall makes no further syscall before its slice is reported", async () => {
  // sched_next chose the task and it blocked (sleep): until sched_report it is still the chosen
  // one, but not running, so a second call in its name is refused.
  const dev = device();
  const a = await dev.install(appFromBytes("a", manifest("a", { Capabilities: { Gpio: [31] } }), app("", `(i32.const 0)`)));
  const e = dev.core.exports;
  const task = dev.start(a);
  assert.equal(e.sched_next(0), task);
  assert.equal(e.syscall(task, abi.SYS_SLEEP_MS, 100, 0, 0, 0), abi.SYSCALL_SUSPEND);
  assert.equal(e.task_state(task), abi.TASK_BLOCKED);
  assert.equal(e.syscall(task, abi.SYS_GPIO_OPEN_OUTPUT, 31, 1, 0, 0), -abi.EPERM);
  assert.equal(e.syscall(task, abi.SYS_SLEEP_MS, 5, 0, 0, 0), -abi.EPERM);
  assert.equal(dev.gpio.direction(31), -1);
  assert.equal(e.sched_report(task, abi.STOP_BLOCKED, 0, 0), 0);
  assert.equal(e.sched_next(50), -abi.EAGAIN, "still asleep: the refused sleep of 5 ms changed nothing");
  assert.equal(e.sched_next(100), task);
});

test("manifest text quoted in a refusal is sanitised: control characters, quotes and backslashes become '?'", async () => {
  const dev = device();
  await assert.rejects(dev.install(appFromBytes("forger", manifest("forger", { ApplicationType: "X\n\u001b[31mY\"\\\u007fZ" }), app("", `(i32.const 0)`))), (err: Error) => {
    assert.ok(err instanceof InstallError);
    assert.equal(dev.core.lastError(), `ApplicationType: only "Default" is supported, not "X??[31mY???Z"`);
    assert.doesNotMatch(err.message, /[\u0000-\u001f\u007f]/);
    return true;
  });
});
