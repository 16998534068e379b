// A hostile app that calls every peripheral, channel and wait syscall with arguments it makes up
// (a seeded generator biased towards the values that matter: small ids and channels, its own
// handles and their neighbours, pointers at and past the end of its memory, negative and huge
// lengths), beside a blinker. Whatever it passes: the core never panics or traps, each call
// answers a count or one of the errnos ABI.md lists for it, the blinker keeps its schedule and the
// peripherals' state stays one the checks allow.
import test from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { Board, defaultBoardSpecs } from "../../host/peripherals/board.js";
import { Sht3x, SHT3X_ADDRESS } from "../../host/peripherals/sht3x.js";
import { SpiNorFlash } from "../../host/peripherals/spi-nor.js";
import { appFromBytes } from "../../host/apps/package.js";
import { blinker, device, exitCodes, manifest, wat } from "./support.js";

// [import name, params, syscall number]
const CALLS: [string, number, number][] = [
  ["uart_open", 2, abi.SYS_UART_OPEN], ["uart_read", 3, abi.SYS_UART_READ], ["uart_write", 3, abi.SYS_UART_WRITE],
  ["i2c_open", 1, abi.SYS_I2C_OPEN], ["i2c_configure", 3, abi.SYS_I2C_CONFIGURE], ["i2c_write", 4, abi.SYS_I2C_WRITE],
  ["i2c_read", 4, abi.SYS_I2C_READ], ["i2c_write_read", 3, abi.SYS_I2C_WRITE_READ],
  ["spi_open", 3, abi.SYS_SPI_OPEN], ["spi_configure", 2, abi.SYS_SPI_CONFIGURE], ["spi_transfer", 3, abi.SYS_SPI_TRANSFER],
  ["adc_open", 1, abi.SYS_ADC_OPEN], ["adc_sample_bits", 2, abi.SYS_ADC_SAMPLE_BITS], ["adc_set_reference", 3, abi.SYS_ADC_SET_REFERENCE],
  ["adc_poll", 2, abi.SYS_ADC_POLL], ["pwm_open", 1, abi.SYS_PWM_OPEN], ["pwm_apply", 3, abi.SYS_PWM_APPLY],
  ["channel_open", 2, abi.SYS_CHANNEL_OPEN], ["channel_send", 3, abi.SYS_CHANNEL_SEND], ["channel_recv", 3, abi.SYS_CHANNEL_RECV],
  ["close", 1, abi.SYS_CLOSE], ["wait", 2, abi.SYS_WAIT], ["wait_any", 3, abi.SYS_WAIT_ANY],
];
const ERRNOS = new Set(Object.entries(abi).filter(([k]) => /^E[A-Z]+$/.test(k)).map(([, v]) => -(v as number)));
const ROUNDS = 6000;
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const hex = (bytes: number[]) => bytes.map((b) => `\\${b.toString(16).padStart(2, "0")}`).join("");
// Valid records a call may be pointed at, so draws also get past the checks: 64 bytes apart from
// 8192 (a UART configuration, an SPI one, a PWM state, an I2C write-then-read descriptor, two SPI
// transfers, the partner's ComponentId), and the bytes they name at 8600 and 8700.
const RECORDS = [
  [8192, [...le32(9600), 8, 0, 1, 0]], [8256, [...le32(1_000_000), 0, 0, 0, 0]], [8320, [...le32(1000), ...le32(500), ...le32(0), ...le32(1)]],
  [8384, [...le32(8600), ...le32(2), ...le32(8700), ...le32(6)]], [8448, [...le32(1), ...le32(8600), ...le32(1), ...le32(2), ...le32(8700), ...le32(3)]],
  [8512, [...new TextEncoder().encode("0c0b0000-0000-4000-8000-00000000000b")]], [8600, [0x24, 0x00]],
].map(([at, bytes]) => `(data (i32.const ${at}) "${hex(bytes as number[])}")`).join("\n");

/**
 * The fuzzer: each round draws a call and its arguments from an xorshift generator seeded with
 * `seed`, makes the call, and records the result in a ring at 32768 (the host reads it after).
 * Argument values: with the draw's low bits choosing, a small number (0..15), a handle it got
 * back earlier, that handle +-1, a pointer into or just past its memory, or a raw 32-bit draw.
 */
function fuzzer(seed: number): Uint8Array {
  const imports = CALLS.map(([name, n]) => `(import "applibs" "${name}" (func $${name} (param ${"i32 ".repeat(n)}) (result i32)))`).join("\n");
  // The first argument is a handle from the table half the time (most calls take one first).
  const arms = CALLS.map(([name, n], i) => `(if (i32.eq (local.get $pick) (i32.const ${i})) (then (local.set $r (call $${name} ${Array.from({ length: n }, (_, k) => (k === 0 ? "(call $arg0)" : "(call $arg)")).join(" ")}))))`).join("\n");
  return wat(`(module ${imports}
    (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
    (memory (export "memory") 1)
    ${RECORDS}
    (global $x (mut i32) (i32.const ${seed | 1}))
    (func $next (result i32)
      (global.set $x (i32.xor (global.get $x) (i32.shl (global.get $x) (i32.const 13))))
      (global.set $x (i32.xor (global.get $x) (i32.shr_u (global.get $x) (i32.const 17))))
      (global.set $x (i32.xor (global.get $x) (i32.shl (global.get $x) (i32.const 5))))
      (global.get $x))
    (func $arg (result i32) (local $d i32) (local $k i32)
      (local.set $d (call $next))
      (local.set $k (i32.and (local.get $d) (i32.const 7)))
      (if (i32.lt_u (local.get $k) (i32.const 3)) (then (return (i32.and (i32.shr_u (local.get $d) (i32.const 8)) (i32.const 15)))))
      (if (i32.eq (local.get $k) (i32.const 3)) (then (return (i32.load (i32.add (i32.const 8800) (i32.shl (i32.and (i32.shr_u (local.get $d) (i32.const 8)) (i32.const 7)) (i32.const 2)))))))
      (if (i32.eq (local.get $k) (i32.const 4)) (then (return (i32.add (i32.load (i32.add (i32.const 8800) (i32.shl (i32.and (i32.shr_u (local.get $d) (i32.const 8)) (i32.const 7)) (i32.const 2)))) (i32.sub (i32.and (i32.shr_u (local.get $d) (i32.const 11)) (i32.const 2)) (i32.const 1))))))
      (if (i32.eq (local.get $k) (i32.const 5)) (then (return (i32.add (i32.const 8192) (i32.mul (i32.const 64) (i32.rem_u (i32.shr_u (local.get $d) (i32.const 8)) (i32.const 6)))))))
      (if (i32.eq (local.get $k) (i32.const 6)) (then (return (i32.sub (i32.const 65536) (i32.and (i32.shr_u (local.get $d) (i32.const 8)) (i32.const 63))))))
      (if (i32.and (i32.shr_u (local.get $d) (i32.const 8)) (i32.const 1)) (then (return (i32.const 36))))
      (local.get $d))
    (func $arg0 (result i32) (local $d i32)
      (local.set $d (call $next))
      (if (i32.and (local.get $d) (i32.const 1)) (then (return (i32.load (i32.add (i32.const 8800) (i32.shl (i32.and (i32.shr_u (local.get $d) (i32.const 8)) (i32.const 7)) (i32.const 2)))))))
      (call $arg))
    (func (export "main") (result i32) (local $i i32) (local $pick i32) (local $r i32)
      ;; handles to start from, each opened properly (the table at 8800 is what draws name as handles)
      (i32.store (i32.const 8800) (call $uart_open (i32.const 0) (i32.const 8192)))
      (i32.store (i32.const 8804) (call $i2c_open (i32.const 1)))
      (i32.store (i32.const 8808) (call $spi_open (i32.const 2) (i32.const 0) (i32.const 8256)))
      (i32.store (i32.const 8812) (call $adc_open (i32.const 5)))
      (i32.store (i32.const 8816) (call $pwm_open (i32.const 6)))
      (i32.store (i32.const 8820) (call $channel_open (i32.const 8512) (i32.const 36)))
      (loop $l
        (local.set $pick (i32.rem_u (call $next) (i32.const ${CALLS.length})))
        (local.set $r (i32.const 0x7fffffff))
        ${arms}
        ;; a new handle (or any positive answer) may be named by later draws
        (if (i32.and (i32.gt_s (local.get $r) (i32.const 0)) (i32.le_u (local.get $pick) (i32.const ${CALLS.length}))) (then
          (i32.store (i32.add (i32.const 8800) (i32.shl (i32.and (call $next) (i32.const 7)) (i32.const 2))) (local.get $r))))
        (i32.store (i32.add (i32.const 32768) (i32.shl (i32.and (local.get $i) (i32.const 4095)) (i32.const 3))) (local.get $pick))
        (i32.store (i32.add (i32.const 32772) (i32.shl (i32.and (local.get $i) (i32.const 4095)) (i32.const 3))) (local.get $r))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const ${ROUNDS}))))
      (i32.const 0)))`);
}

const OPENS = new Set([abi.SYS_UART_OPEN, abi.SYS_I2C_OPEN, abi.SYS_SPI_OPEN, abi.SYS_ADC_OPEN, abi.SYS_PWM_OPEN, abi.SYS_CHANNEL_OPEN]);
/** Handle calls (not opens, not close) that succeeded under some seed: the draws reach past the checks. */
const reachedPastChecks = new Set<number>();

for (const seed of [1, 0x5eed, 0xdeadbeef]) {
  test(`made-up arguments to every peripheral, channel and wait call (seed ${seed}): no panic or trap, only listed answers, the blinker on schedule`, async () => {
    const board = new Board(defaultBoardSpecs(96));
    board.i2c("ISU1").attach(SHT3X_ADDRESS, new Sht3x({ temperatureC: 20, humidityPercent: 50 }));
    board.spi("ISU2").attach(0, new SpiNorFlash());
    board.uart("ISU0").send(new TextEncoder().encode("noise"));
    // Every syscall's answer, as the core gives it to the host.
    const answers: [number, number][] = [];
    const coreTap = {
      wrap<F extends (...args: any[]) => any>(kind: "hal" | "export", name: string, fn: F): F {
        // The fast path calls syscall_charged (the result in its low 32 bits), the JS path syscall.
        if (kind !== "export" || (name !== "syscall" && name !== "syscall_charged")) return fn;
        return ((...args: number[]) => {
          const r = fn(...args);
          answers.push([args[1], typeof r === "bigint" ? Number(BigInt.asIntN(32, r)) : r]);
          return r;
        }) as F;
      },
    };
    const dev = device({ board, coreTap });
    const caps = { Uart: ["ISU0"], I2cMaster: ["ISU1"], SpiMaster: ["ISU2"], Adc: ["ADC-CONTROLLER-0"], Pwm: ["PWM-CONTROLLER-0"], AllowedApplicationConnections: ["0c0b0000-0000-4000-8000-00000000000b"] };
    const fuzz = await dev.install(appFromBytes("fuzz", manifest("fuzz", { ComponentId: "0c0a0000-0000-4000-8000-00000000000a", Capabilities: caps }), fuzzer(seed)));
    const partner = await dev.install(appFromBytes("partner", manifest("partner", { ComponentId: "0c0b0000-0000-4000-8000-00000000000b", Capabilities: { AllowedApplicationConnections: ["0c0a0000-0000-4000-8000-00000000000a"], Gpio: [8] } }), blinker(8, 100)));
    dev.start(fuzz);
    dev.start(partner);
    await dev.run({ untilMs: 60_000 });
    // The fuzzer ran to its end (it may have blocked in a wait: then it is still there, not crashed).
    const trapped = dev.events.of("app").filter((e) => e.app === "fuzz" && (e.what === "trapped" || e.what === "host error"));
    assert.deepEqual(trapped, []);
    const blinks = dev.events.of("gpio").filter((e) => e.pin === 8 && e.source === "core").map((e) => e.timeMs);
    assert.ok(blinks.length > 10, `the blinker ran: ${blinks.length} edges`);
    // Each half period 100 ms, give or take the fuzzer's slice it may wait behind.
    for (let i = 2; i < blinks.length; i++) assert.ok(Math.abs(blinks[i] - blinks[i - 1] - 100) < 1, `blink ${i} at ${blinks[i]}`);
    // Every answer was a count (>= 0), an errno of abi.ts, or the suspend marker of a blocking call.
    const fuzzed = new Set(CALLS.map(([, , nr]) => nr).concat([abi.SYS_WAIT]));
    const mine = answers.filter(([nr]) => fuzzed.has(nr));
    // It made its calls (it may end blocked for good in a wait it asked for: a legal outcome).
    assert.ok(mine.length >= 100, `the fuzzer made its calls: ${mine.length}`);
    for (const [nr, r] of mine) assert.ok(r >= 0 || ERRNOS.has(r) || r === abi.SYSCALL_SUSPEND, `syscall ${nr} answered ${r}`);
    for (const [nr, r] of mine) if (r >= 0 && nr !== abi.SYS_CLOSE && !OPENS.has(nr)) reachedPastChecks.add(nr);
    // The PWM controller's channels hold only states the core allows.
    for (let ch = 0; ch < 4; ch++) {
      const s = board.pwm("PWM-CONTROLLER-0").state(ch)!;
      if (s.enabled) assert.ok(s.periodNs > 0 && s.dutyCycleNs <= s.periodNs, JSON.stringify(s));
    }
    assert.ok(exitCodes(dev, "fuzz").length <= 1);
  });
}

test("the made-up calls also got past the checks: handle calls of several units succeeded", () => {
  assert.ok(reachedPastChecks.size >= 4, `handle calls that succeeded: ${[...reachedPastChecks].join(", ")}`);
});
