// Peripherals under per-interface grants (ABI.md "Peripherals"): each syscall against the host's
// models (an SHT3x on I2C, a W25Q NOR flash on SPI, an ADC channel at a set voltage, a PWM
// controller, a UART whose other end the test holds), and every refusal: a class not granted, an
// interface granted to nobody or to another app, one the board lacks, a forged handle, a pin an
// interface muxes. Each probe exits with the one value it checks.
import test from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { Board, defaultBoardSpecs } from "../../host/peripherals/board.js";
import { Sht3x, SHT3X_ADDRESS, rawTemperature, rawHumidity } from "../../host/peripherals/sht3x.js";
import { SpiNorFlash, W25Q128JV } from "../../host/peripherals/spi-nor.js";
import { InstallError } from "../../host/device.js";
import { appFromBytes } from "../../host/apps/package.js";
import { device, exitCodes, installAndStart, manifest, wat } from "./support.js";

const IMPORTS = `
  (import "applibs" "exit" (func $exit (param i32)))
  (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
  (import "applibs" "close" (func $close (param i32) (result i32)))
  (import "applibs" "gpio_open_output" (func $gout (param i32 i32) (result i32)))
  (import "applibs" "uart_open" (func $uopen (param i32 i32) (result i32)))
  (import "applibs" "uart_read" (func $uread (param i32 i32 i32) (result i32)))
  (import "applibs" "uart_write" (func $uwrite (param i32 i32 i32) (result i32)))
  (import "applibs" "i2c_open" (func $iopen (param i32) (result i32)))
  (import "applibs" "i2c_configure" (func $iconf (param i32 i32 i32) (result i32)))
  (import "applibs" "i2c_write" (func $iwrite (param i32 i32 i32 i32) (result i32)))
  (import "applibs" "i2c_read" (func $iread (param i32 i32 i32 i32) (result i32)))
  (import "applibs" "i2c_write_read" (func $iwr (param i32 i32 i32) (result i32)))
  (import "applibs" "spi_open" (func $sopen (param i32 i32 i32) (result i32)))
  (import "applibs" "spi_configure" (func $sconf (param i32 i32) (result i32)))
  (import "applibs" "spi_transfer" (func $sxfer (param i32 i32 i32) (result i32)))
  (import "applibs" "adc_open" (func $aopen (param i32) (result i32)))
  (import "applibs" "adc_sample_bits" (func $abits (param i32 i32) (result i32)))
  (import "applibs" "adc_set_reference" (func $aref (param i32 i32 i32) (result i32)))
  (import "applibs" "adc_poll" (func $apoll (param i32 i32) (result i32)))
  (import "applibs" "pwm_open" (func $popen (param i32) (result i32)))
  (import "applibs" "pwm_apply" (func $papply (param i32 i32 i32) (result i32)))`;

// The default board's ids (defaultBoardSpecs on 96 pins).
const ISU0 = 0, ISU1 = 1, ISU2 = 2, ADC = 5, PWM = 6;
const DATA = 8192; // probes' data: below is the runtime's area

const hex = (bytes: number[]) => bytes.map((b) => `\\${b.toString(16).padStart(2, "0")}`).join("");
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/** A module whose main exits with `body`'s i32; `data` is laid out at DATA. */
function probe(body: string, data: number[] = []): Uint8Array {
  return wat(`(module ${IMPORTS}
    (memory (export "memory") 1)
    (data (i32.const ${DATA}) "${hex(data)}")
    (func (export "main") (result i32) (local $h i32) (local $r i32)
      (call $exit ${body}) (i32.const 0)))`);
}
const UART_9600_8N1 = [...le32(9600), 8, 0, 1, 0];

function boardWithParts() {
  const board = new Board(defaultBoardSpecs(96));
  const sensor = new Sht3x({ temperatureC: 23.5, humidityPercent: 41 });
  board.i2c("ISU1").attach(SHT3X_ADDRESS, sensor);
  const flash = new SpiNorFlash(W25Q128JV);
  board.spi("ISU2").attach(0, flash);
  board.adc("ADC-CONTROLLER-0").wire(2, 1.25);
  return { board, sensor, flash };
}

/** Runs one probe with `caps` on a device with `board`; its exit code. */
async function exitOf(module: Uint8Array, caps: Record<string, unknown>, board = boardWithParts().board, untilMs = 1000) {
  const dev = device({ board });
  await installAndStart(dev, "probe", module, { Capabilities: caps });
  await dev.run({ untilMs });
  const codes = exitCodes(dev, "probe");
  assert.equal(codes.length, 1, `one exit: ${codes}`);
  return { code: codes[0], dev };
}

test("I2C: an SHT3x single-shot measurement read back, through write then read and write-then-read; no target is -ENXIO; a stretch past the timeout is -ETIMEDOUT", async () => {
  const { board, sensor } = boardWithParts();
  // Single shot, high repeatability, no clock stretching (0x2400), 20 ms, read 6 bytes: the temperature word.
  const measured = await exitOf(probe(`
    (local.set $h (call $iopen (i32.const ${ISU1})))
    (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $exit (local.get $h))))
    (local.set $r (call $iwrite (local.get $h) (i32.const 0x44) (i32.const ${DATA}) (i32.const 2)))
    (if (i32.ne (local.get $r) (i32.const 2)) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
    (drop (call $sleep (i32.const 20)))
    (local.set $r (call $iread (local.get $h) (i32.const 0x44) (i32.const ${DATA + 64}) (i32.const 6)))
    (if (i32.ne (local.get $r) (i32.const 6)) (then (call $exit (i32.sub (i32.const -2000) (local.get $r)))))
    (i32.or (i32.shl (i32.load8_u (i32.const ${DATA + 64})) (i32.const 8)) (i32.load8_u (i32.const ${DATA + 65})))`, [0x24, 0x00]),
  { I2cMaster: ["ISU1"] }, board);
  assert.equal(measured.code, rawTemperature(23.5));
  assert.deepEqual(sensor.commands, [0x2400]);
  // With clock stretching (0x2c06) in one write-then-read: the humidity word; returns 2 + 6.
  const desc = [...le32(DATA + 32), ...le32(2), ...le32(DATA + 64), ...le32(6)];
  const both = await exitOf(probe(`
    (local.set $h (call $iopen (i32.const ${ISU1})))
    (local.set $r (call $iwr (local.get $h) (i32.const 0x44) (i32.const ${DATA})))
    (if (i32.ne (local.get $r) (i32.const 8)) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
    (i32.or (i32.shl (i32.load8_u (i32.const ${DATA + 67})) (i32.const 8)) (i32.load8_u (i32.const ${DATA + 68})))`,
  [...desc, ...new Array(16).fill(0), 0x2c, 0x06]), { I2cMaster: ["ISU1"] });
  assert.equal(both.code, rawHumidity(41));
  const nobody = await exitOf(probe(`(call $iwrite (call $iopen (i32.const ${ISU1})) (i32.const 0x45) (i32.const ${DATA}) (i32.const 2))`, [0x24, 0x00]), { I2cMaster: ["ISU1"] });
  assert.equal(nobody.code, -abi.ENXIO);
  const reserved = await exitOf(probe(`(call $iwrite (call $iopen (i32.const ${ISU1})) (i32.const 0x78) (i32.const ${DATA}) (i32.const 2))`, [0x24, 0x00]), { I2cMaster: ["ISU1"] });
  assert.equal(reserved.code, -abi.EINVAL);
  // A 1 ms timeout against a 15 ms stretched measurement.
  const timedOut = await exitOf(probe(`
    (local.set $h (call $iopen (i32.const ${ISU1})))
    (local.set $r (call $iconf (local.get $h) (i32.const 400000) (i32.const 1)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
    (call $iwr (local.get $h) (i32.const 0x44) (i32.const ${DATA}))`, [...desc, ...new Array(16).fill(0), 0x2c, 0x06]), { I2cMaster: ["ISU1"] });
  assert.equal(timedOut.code, -abi.ETIMEDOUT);
  const badSpeed = await exitOf(probe(`(call $iconf (call $iopen (i32.const ${ISU1})) (i32.const 123456) (i32.const 10))`), { I2cMaster: ["ISU1"] });
  assert.equal(badSpeed.code, -abi.EINVAL);
});

test("SPI: the W25Q's JEDEC ID and a page program read back, in sequences of transfers under one chip select; a bad transfer is -EINVAL", async () => {
  const { board, flash } = boardWithParts();
  const config = [...le32(10_000_000), 0, 0, 0, 0];
  // Transfers at DATA+16: write 0x9f (1 byte at DATA+8), read 3 bytes to DATA+64.
  const transfers = [...le32(abi.SPI_TRANSFER_WRITE), ...le32(DATA + 8), ...le32(1), ...le32(abi.SPI_TRANSFER_READ), ...le32(DATA + 64), ...le32(3)];
  const id = await exitOf(probe(`
    (local.set $h (call $sopen (i32.const ${ISU2}) (i32.const 0) (i32.const ${DATA})))
    (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $exit (local.get $h))))
    (local.set $r (call $sxfer (local.get $h) (i32.const ${DATA + 16}) (i32.const 2)))
    (if (i32.ne (local.get $r) (i32.const 4)) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
    (i32.or (i32.or (i32.shl (i32.load8_u (i32.const ${DATA + 64})) (i32.const 16)) (i32.shl (i32.load8_u (i32.const ${DATA + 65})) (i32.const 8))) (i32.load8_u (i32.const ${DATA + 66})))`,
  [...config, 0x9f, ...new Array(7).fill(0), ...transfers]), { SpiMaster: ["ISU2"] }, board);
  const jedec = W25Q128JV.jedecId;
  assert.equal(id.code, (jedec[0] << 16) | (jedec[1] << 8) | jedec[2]);
  // The wrong bit order reads garbage, as from a real part.
  const lsb = await exitOf(probe(`
    (local.set $h (call $sopen (i32.const ${ISU2}) (i32.const 0) (i32.const ${DATA})))
    (drop (call $sxfer (local.get $h) (i32.const ${DATA + 16}) (i32.const 2)))
    (i32.load8_u (i32.const ${DATA + 64}))`, [...le32(10_000_000), 0, 1, 0, 0, 0x9f, ...new Array(7).fill(0), ...transfers]), { SpiMaster: ["ISU2"] });
  assert.notEqual(lsb.code, jedec[0]);
  const badFlags = await exitOf(probe(`(call $sxfer (call $sopen (i32.const ${ISU2}) (i32.const 0) (i32.const ${DATA})) (i32.const ${DATA + 16}) (i32.const 1))`,
    [...config, 0, 0, 0, 0, 0, 0, 0, 0, ...le32(3), ...le32(DATA), ...le32(1)]), { SpiMaster: ["ISU2"] });
  assert.equal(badFlags.code, -abi.EINVAL);
  const badMode = await exitOf(probe(`(call $sopen (i32.const ${ISU2}) (i32.const 0) (i32.const ${DATA}))`, [...le32(1000), 4, 0, 0, 0]), { SpiMaster: ["ISU2"] });
  assert.equal(badMode.code, -abi.EINVAL);
  const tooLong = await exitOf(probe(`(call $sxfer (call $sopen (i32.const ${ISU2}) (i32.const 0) (i32.const ${DATA})) (i32.const ${DATA + 16}) (i32.const 1))`,
    [...config, 0, 0, 0, 0, 0, 0, 0, 0, ...le32(abi.SPI_TRANSFER_READ), ...le32(DATA), ...le32(abi.PERIPH_IO_MAX_BYTES)]), { SpiMaster: ["ISU2"] });
  assert.equal(tooLong.code, -abi.EINVAL);
  assert.equal(flash.counters.programs, 0);
});

test("ADC: a 1.25 V input on a 2.5 V reference polls as 2048 of 12 bits; a channel the controller lacks and a zero reference are -EINVAL", async () => {
  const poll = await exitOf(probe(`(call $apoll (call $aopen (i32.const ${ADC})) (i32.const 2))`), { Adc: ["ADC-CONTROLLER-0"] });
  assert.equal(poll.code, 2048);
  const bits = await exitOf(probe(`(call $abits (call $aopen (i32.const ${ADC})) (i32.const 2))`), { Adc: ["ADC-CONTROLLER-0"] });
  assert.equal(bits.code, 12);
  // A 1.8 V reference: 1.25 V is round(1.25 * 4095 / 1.8) = 2844.
  const ref = await exitOf(probe(`
    (local.set $h (call $aopen (i32.const ${ADC})))
    (local.set $r (call $aref (local.get $h) (i32.const 2) (i32.const 1800000)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
    (call $apoll (local.get $h) (i32.const 2))`), { Adc: ["ADC-CONTROLLER-0"] });
  assert.equal(ref.code, 2844);
  assert.equal((await exitOf(probe(`(call $apoll (call $aopen (i32.const ${ADC})) (i32.const 8))`), { Adc: ["ADC-CONTROLLER-0"] })).code, -abi.EINVAL);
  assert.equal((await exitOf(probe(`(call $aref (call $aopen (i32.const ${ADC})) (i32.const 0) (i32.const 0))`), { Adc: ["ADC-CONTROLLER-0"] })).code, -abi.EINVAL);
  assert.equal((await exitOf(probe(`(call $aref (call $aopen (i32.const ${ADC})) (i32.const 0) (i32.const 5000000))`), { Adc: ["ADC-CONTROLLER-0"] })).code, -abi.EINVAL);
});

test("PWM: a state applies whole and the run log shows it; an invalid one is -EINVAL and changes nothing; the app's end disables the output", async () => {
  const state = (period: number, duty: number, polarity: number, enabled: number) => [...le32(period), ...le32(duty), ...le32(polarity), ...le32(enabled)];
  const { board } = boardWithParts();
  const pwm = board.pwm("PWM-CONTROLLER-0");
  const seen: unknown[] = [];
  pwm.observe((channel, s) => seen.push([channel, s.dutyCycleNs, s.enabled]));
  const r = await exitOf(probe(`
    (local.set $h (call $popen (i32.const ${PWM})))
    (local.set $r (call $papply (local.get $h) (i32.const 1) (i32.const ${DATA})))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
    (drop (call $sleep (i32.const 10)))
    (call $papply (local.get $h) (i32.const 1) (i32.const ${DATA + 16}))`,
  [...state(1_000_000, 250_000, 0, 1), ...state(1_000_000, 2_000_000, 0, 1)]), { Pwm: ["PWM-CONTROLLER-0"] }, board);
  assert.equal(r.code, -abi.EINVAL);
  assert.deepEqual(seen, [[1, 250_000, true], [1, 250_000, false]]);
  assert.deepEqual(r.dev.events.of("periph").map((e) => `${e.iface}: ${e.text}`), [
    "PWM-CONTROLLER-0: channel 1: 25.0 % of 1,000,000 ns, normal",
    "PWM-CONTROLLER-0: channel 1: disabled",
  ]);
  assert.equal((await exitOf(probe(`(call $papply (call $popen (i32.const ${PWM})) (i32.const 4) (i32.const ${DATA}))`, state(1000, 10, 0, 1)), { Pwm: ["PWM-CONTROLLER-0"] })).code, -abi.EINVAL);
  assert.equal((await exitOf(probe(`(call $papply (call $popen (i32.const ${PWM})) (i32.const 0) (i32.const ${DATA}))`, state(1000, 10, 2, 1)), { Pwm: ["PWM-CONTROLLER-0"] })).code, -abi.EINVAL);
});

test("UART: configured at open, writes reach the other end, what it sends is read, nothing received is -EAGAIN, a bad configuration is -EINVAL", async () => {
  const { board } = boardWithParts();
  const port = board.uart("ISU0");
  const heard: string[] = [];
  port.onTransmit((b) => heard.push(new TextDecoder().decode(b)));
  const dev = device({ board });
  // Writes "hi", sleeps 50 ms (the other end sends "abc" meanwhile), reads up to 16, then again.
  const echo = probe(`
    (local.set $h (call $uopen (i32.const ${ISU0}) (i32.const ${DATA})))
    (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $exit (local.get $h))))
    (local.set $r (call $uread (local.get $h) (i32.const ${DATA + 64}) (i32.const 16)))
    (if (i32.ne (local.get $r) (i32.const ${-abi.EAGAIN})) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
    (local.set $r (call $uwrite (local.get $h) (i32.const ${DATA + 8}) (i32.const 2)))
    (if (i32.ne (local.get $r) (i32.const 2)) (then (call $exit (i32.sub (i32.const -2000) (local.get $r)))))
    (drop (call $sleep (i32.const 50)))
    (local.set $r (call $uread (local.get $h) (i32.const ${DATA + 64}) (i32.const 16)))
    (if (i32.ne (local.get $r) (i32.const 3)) (then (call $exit (i32.sub (i32.const -3000) (local.get $r)))))
    (i32.load8_u (i32.const ${DATA + 66}))`, [...UART_9600_8N1, 0x68, 0x69]);
  await installAndStart(dev, "probe", echo, { Capabilities: { Uart: ["ISU0"] } });
  await dev.run({ untilMs: 20 });
  assert.deepEqual(heard, ["hi"]);
  assert.deepEqual(port.config, { baudRate: 9600, dataBits: 8, parity: "none", stopBits: 1, flowControl: "none" });
  port.send(new TextEncoder().encode("abc"));
  await dev.run({ untilMs: 1000 });
  assert.deepEqual(exitCodes(dev, "probe"), [0x63]);
  // Its end closed the UART: the configuration is gone.
  assert.equal(port.config, null);
  for (const bad of [[...le32(0), 8, 0, 1, 0], [...le32(9600), 9, 0, 1, 0], [...le32(9600), 8, 3, 1, 0], [...le32(9600), 8, 0, 3, 0], [...le32(9600), 8, 0, 1, 3], [...le32(abi.UART_MAX_BAUD + 1), 8, 0, 1, 0]]) {
    assert.equal((await exitOf(probe(`(call $uopen (i32.const ${ISU0}) (i32.const ${DATA}))`, bad), { Uart: ["ISU0"] })).code, -abi.EINVAL, JSON.stringify(bad));
  }
});

test("every peripheral open is refused without its capability, for an interface not granted, and for one the board lacks; forged and foreign handles are -EBADF; each denial is audited", async () => {
  const opens: [string, string, number, string][] = [
    ["Uart", "ISU0", abi.SYS_UART_OPEN, `(call $uopen (i32.const ID) (i32.const ${DATA}))`],
    ["I2cMaster", "ISU1", abi.SYS_I2C_OPEN, `(call $iopen (i32.const ID))`],
    ["SpiMaster", "ISU2", abi.SYS_SPI_OPEN, `(call $sopen (i32.const ID) (i32.const 0) (i32.const ${DATA + 16}))`],
    ["Adc", "ADC-CONTROLLER-0", abi.SYS_ADC_OPEN, `(call $aopen (i32.const ID))`],
    ["Pwm", "PWM-CONTROLLER-0", abi.SYS_PWM_OPEN, `(call $popen (i32.const ID))`],
  ];
  const board = new Board(defaultBoardSpecs(96));
  const ids = new Map(board.interfaces.map((i) => [i.name, i.id]));
  // A UART configuration at DATA, an SPI one at DATA + 16.
  const config = [...le32(9600), 8, 0, 1, 0, ...new Array(8).fill(0), ...le32(1_000_000), 0, 0, 0, 0];
  for (const [cap, name, nr, call] of opens) {
    const id = ids.get(name)!;
    // No capability of the class at all.
    const none = await exitOf(probe(call.replace("ID", String(id)), config), {});
    assert.equal(none.code, -abi.EACCES, `${cap} without the capability`);
    assert.deepEqual(none.dev.audit().filter((a) => a.kind === abi.EV_DENIED).map((a) => [a.syscall, a.arg]), [[nr, id]], cap);
    // The class, for another interface of that function (ISU3 for the ISUs; none for the single ADC/PWM).
    if (name.startsWith("ISU")) {
      const other = await exitOf(probe(call.replace("ID", String(id)), config), { [cap]: ["ISU3"] });
      assert.equal(other.code, -abi.EACCES, `${cap} granted ISU3, opening ${name}`);
      assert.deepEqual(other.dev.audit().filter((a) => a.kind === abi.EV_DENIED).map((a) => [a.syscall, a.arg]), [[nr, id]], cap);
    }
    // An id the board lacks, and one that does not serve the function (the PWM controller as anything else, the ADC as PWM).
    const missing = await exitOf(probe(call.replace("ID", "99"), config), { [cap]: [name] });
    assert.equal(missing.code, -abi.ENODEV, `${cap} id 99`);
    const wrongFunction = await exitOf(probe(call.replace("ID", String(cap === "Pwm" ? ids.get("ADC-CONTROLLER-0") : ids.get("PWM-CONTROLLER-0"))), config), { [cap]: [name] });
    assert.equal(wrongFunction.code, -abi.ENODEV, `${cap} on an interface of another function`);
    // Open twice: -EBUSY.
    const twice = await exitOf(probe(`(drop ${call.replace("ID", String(id))}) ${call.replace("ID", String(id))}`, config), { [cap]: [name] });
    assert.equal(twice.code, -abi.EBUSY, `${cap} opened twice`);
  }
  // Handle calls with a forged handle, and with a GPIO handle (another kind): -EBADF, audited.
  const calls: [number, string][] = [
    [abi.SYS_UART_READ, `(call $uread (local.get $h) (i32.const ${DATA}) (i32.const 4))`],
    [abi.SYS_UART_WRITE, `(call $uwrite (local.get $h) (i32.const ${DATA}) (i32.const 4))`],
    [abi.SYS_I2C_CONFIGURE, `(call $iconf (local.get $h) (i32.const 100000) (i32.const 10))`],
    [abi.SYS_I2C_WRITE, `(call $iwrite (local.get $h) (i32.const 0x44) (i32.const ${DATA}) (i32.const 2))`],
    [abi.SYS_I2C_READ, `(call $iread (local.get $h) (i32.const 0x44) (i32.const ${DATA}) (i32.const 2))`],
    [abi.SYS_I2C_WRITE_READ, `(call $iwr (local.get $h) (i32.const 0x44) (i32.const ${DATA}))`],
    [abi.SYS_SPI_CONFIGURE, `(call $sconf (local.get $h) (i32.const ${DATA}))`],
    [abi.SYS_SPI_TRANSFER, `(call $sxfer (local.get $h) (i32.const ${DATA}) (i32.const 1))`],
    [abi.SYS_ADC_SAMPLE_BITS, `(call $abits (local.get $h) (i32.const 0))`],
    [abi.SYS_ADC_SET_REFERENCE, `(call $aref (local.get $h) (i32.const 0) (i32.const 1000000))`],
    [abi.SYS_ADC_POLL, `(call $apoll (local.get $h) (i32.const 0))`],
    [abi.SYS_PWM_APPLY, `(call $papply (local.get $h) (i32.const 0) (i32.const ${DATA}))`],
  ];
  for (const [nr, call] of calls) {
    const forged = await exitOf(probe(`(local.set $h (i32.const ${(1 << abi.HANDLE_INDEX_BITS) | 7})) ${call}`), {});
    assert.equal(forged.code, -abi.EBADF, `forged handle, syscall ${nr}`);
    assert.deepEqual(forged.dev.audit().filter((a) => a.kind === abi.EV_BAD_HANDLE).map((a) => a.syscall), [nr]);
    const gpio = await exitOf(probe(`(local.set $h (call $gout (i32.const 8) (i32.const 0))) ${call}`), { Gpio: [8] });
    assert.equal(gpio.code, -abi.EBADF, `GPIO handle, syscall ${nr}`);
  }
});

test("an interface belongs to one app, its pins with it: a second claim, a claim on its pins and a manifest naming it twice are refused at install; names the board lacks are -ENODEV", async () => {
  const dev = device();
  await installAndStart(dev, "owner", probe(`(call $gout (i32.const 26) (i32.const 0))`), { Capabilities: { Uart: ["ISU0"] } });
  const refusal = async (caps: Record<string, unknown>) => {
    try {
      await dev.install(appFromBytes("second", manifest("second", { Capabilities: caps }), probe(`(i32.const 0)`)));
    } catch (err) {
      assert.ok(err instanceof InstallError, String(err));
      return [err.code, err.message];
    }
    return null;
  };
  assert.deepEqual(await refusal({ I2cMaster: ["ISU0"] }), [-abi.EBUSY, `second: app_manifest.json refused (EBUSY): Capabilities: interface ISU0 is owned by "owner", which is installed`]);
  assert.deepEqual(await refusal({ Gpio: [27] }), [-abi.EBUSY, `second: app_manifest.json refused (EBUSY): Capabilities.Gpio: pin 27 is owned by "owner", which is installed`]);
  assert.deepEqual(await refusal({ Uart: ["ISU1"], Gpio: [31] }), [-abi.EINVAL, "second: app_manifest.json refused (EINVAL): Capabilities.Gpio: pin 31 is muxed by interface ISU1, which this manifest also claims"]);
  assert.deepEqual(await refusal({ Uart: ["ISU1"], SpiMaster: ["ISU1"] }), [-abi.EINVAL, `second: app_manifest.json refused (EINVAL): Capabilities.SpiMaster[0]: "ISU1" is listed twice (also under Uart: an interface serves one function)`]);
  assert.deepEqual(await refusal({ Uart: ["ISU9"] }), [-abi.ENODEV, `second: app_manifest.json refused (ENODEV): Capabilities.Uart[0]: "ISU9" is not a Uart interface of this device (it has ISU0, ISU1, ISU2, ISU3, ISU4)`]);
  assert.deepEqual(await refusal({ Adc: ["ISU1"] }), [-abi.ENODEV, `second: app_manifest.json refused (ENODEV): Capabilities.Adc[0]: "ISU1" is not a Adc interface of this device (it has ADC-CONTROLLER-0)`]);
  assert.deepEqual(await refusal({ Uart: ["$ISU1_UART"] }), [-abi.ENODEV, `second: app_manifest.json refused (ENODEV): Capabilities.Uart[0]: "$ISU1_UART" is a hardware definition's name: pack with --hardware-definitions to resolve it`]);
  // A pin another app owns as GPIO cannot go with an interface muxing it.
  await dev.install(appFromBytes("pins", manifest("pins", { Capabilities: { Gpio: [36] } }), probe(`(i32.const 0)`)));
  assert.deepEqual(await refusal({ SpiMaster: ["ISU2"] }), [-abi.EBUSY, `second: app_manifest.json refused (EBUSY): Capabilities: interface ISU2 muxes pin 36, which "pins" owns`]);
  // The owner cannot drive its UART's pin as GPIO: it is not in its pin grant.
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "owner"), [-abi.EACCES]);
});

test("bad pointers and lengths: -EFAULT (audited with the pointer) or -EINVAL, and nothing reaches the part; a host answering more bytes than asked is -EIO", async () => {
  const { board, sensor } = boardWithParts();
  const far = 0x7fff0000;
  const cases: [string, Record<string, unknown>, number, number | null][] = [
    [`(call $uopen (i32.const ${ISU0}) (i32.const ${far}))`, { Uart: ["ISU0"] }, -abi.EFAULT, abi.SYS_UART_OPEN],
    [`(call $iwrite (call $iopen (i32.const ${ISU1})) (i32.const 0x44) (i32.const ${far}) (i32.const 2))`, { I2cMaster: ["ISU1"] }, -abi.EFAULT, abi.SYS_I2C_WRITE],
    [`(call $iwrite (call $iopen (i32.const ${ISU1})) (i32.const 0x44) (i32.const ${DATA}) (i32.const ${abi.PERIPH_IO_MAX_BYTES + 1}))`, { I2cMaster: ["ISU1"] }, -abi.EINVAL, null],
    [`(call $iwrite (call $iopen (i32.const ${ISU1})) (i32.const 0x44) (i32.const ${DATA}) (i32.const 0))`, { I2cMaster: ["ISU1"] }, -abi.EINVAL, null],
    [`(call $iwr (call $iopen (i32.const ${ISU1})) (i32.const 0x44) (i32.const ${far}))`, { I2cMaster: ["ISU1"] }, -abi.EFAULT, abi.SYS_I2C_WRITE_READ],
    [`(call $papply (call $popen (i32.const ${PWM})) (i32.const 0) (i32.const -16))`, { Pwm: ["PWM-CONTROLLER-0"] }, -abi.EFAULT, abi.SYS_PWM_APPLY],
    [`(call $sxfer (call $sopen (i32.const ${ISU2}) (i32.const 0) (i32.const ${DATA})) (i32.const ${far}) (i32.const 1))`, { SpiMaster: ["ISU2"] }, -abi.EFAULT, abi.SYS_SPI_TRANSFER],
    [`(call $sxfer (call $sopen (i32.const ${ISU2}) (i32.const 0) (i32.const ${DATA})) (i32.const ${DATA}) (i32.const ${abi.SPI_MAX_TRANSFERS + 1}))`, { SpiMaster: ["ISU2"] }, -abi.EINVAL, null],
    [`(call $sopen (i32.const ${ISU2}) (i32.const 4) (i32.const ${DATA}))`, { SpiMaster: ["ISU2"] }, -abi.EINVAL, null],
  ];
  for (const [body, caps, want, faultNr] of cases) {
    const r = await exitOf(probe(body, [...le32(1_000_000), 0, 0, 0, 0]), caps, board);
    assert.equal(r.code, want, body);
    assert.deepEqual(r.dev.audit().filter((a) => a.kind === abi.EV_FAULT).map((a) => a.syscall), faultNr === null ? [] : [faultNr], body);
  }
  assert.deepEqual(sensor.commands, []);
  // A read into a buffer outside the app's memory is refused before the part is read: what the
  // UART had received is still there for the next good read.
  const port = board.uart("ISU0");
  const dev = device({ board });
  await installAndStart(dev, "probe", probe(`
    (local.set $h (call $uopen (i32.const ${ISU0}) (i32.const ${DATA})))
    (drop (call $sleep (i32.const 20)))
    (local.set $r (call $uread (local.get $h) (i32.const ${far}) (i32.const 8)))
    (if (i32.ne (local.get $r) (i32.const ${-abi.EFAULT})) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
    (call $uread (local.get $h) (i32.const ${DATA + 64}) (i32.const 8))`, UART_9600_8N1), { Capabilities: { Uart: ["ISU0"] } });
  await dev.run({ untilMs: 10 });
  port.send(Uint8Array.of(1, 2, 3));
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "probe"), [3]);
  assert.deepEqual(dev.audit().filter((a) => a.kind === abi.EV_FAULT).map((a) => [a.syscall, a.arg]), [[abi.SYS_UART_READ, far]]);
  // A host that answers a UART read with more bytes than the core asked for.
  class Greedy extends Board {
    override read(id: number, fn: number, op: number, arg: number, data: Uint8Array, maxLen: number, nowMs: number): Uint8Array | number {
      return fn === abi.PERIPH_UART ? new Uint8Array(maxLen + 1) : super.read(id, fn, op, arg, data, maxLen, nowMs);
    }
  }
  const greedy = new Greedy(defaultBoardSpecs(96));
  const r = await exitOf(probe(`(call $uread (call $uopen (i32.const ${ISU0}) (i32.const ${DATA})) (i32.const ${DATA + 64}) (i32.const 8))`, UART_9600_8N1), { Uart: ["ISU0"] }, greedy);
  assert.equal(r.code, -abi.EIO);
});

test("a UART handle is waitable: wait blocks until bytes arrive and answers their count, taking nothing; wait_any sees it beside a timer", async () => {
  const { board } = boardWithParts();
  const port = board.uart("ISU0");
  const dev = device({ board });
  // wait(h, -1) until bytes come; then wait(h, 0) again answers the same count (nothing taken); read them.
  const waiter = wat(`(module ${IMPORTS}
    (import "applibs" "wait" (func $wait (param i32 i32) (result i32)))
    (import "applibs" "wait_any" (func $waitany (param i32 i32 i32) (result i32)))
    (import "applibs" "timer_create" (func $timer (param i32) (result i32)))
    (import "applibs" "clock_ms" (func $clock (result i32)))
    (memory (export "memory") 1)
    (data (i32.const ${DATA}) "${hex(UART_9600_8N1)}")
    (func (export "main") (result i32) (local $h i32) (local $t i32) (local $r i32)
      (local.set $h (call $uopen (i32.const ${ISU0}) (i32.const ${DATA})))
      (local.set $r (call $wait (local.get $h) (i32.const -1)))
      (if (i32.ne (local.get $r) (i32.const 3)) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
      (local.set $r (call $wait (local.get $h) (i32.const 0)))
      (if (i32.ne (local.get $r) (i32.const 3)) (then (call $exit (i32.sub (i32.const -2000) (local.get $r)))))
      (local.set $r (call $uread (local.get $h) (i32.const ${DATA + 64}) (i32.const 16)))
      (if (i32.ne (local.get $r) (i32.const 3)) (then (call $exit (i32.sub (i32.const -3000) (local.get $r)))))
      (local.set $r (call $wait (local.get $h) (i32.const 0)))
      (if (i32.ne (local.get $r) (i32.const ${-abi.ETIMEDOUT})) (then (call $exit (i32.sub (i32.const -4000) (local.get $r)))))
      ;; wait_any over [timer 1000 ms, uart]: the uart (bit 1) comes first
      (local.set $t (call $timer (i32.const 1000)))
      (i32.store (i32.const ${DATA + 128}) (local.get $t))
      (i32.store (i32.const ${DATA + 132}) (local.get $h))
      (local.set $r (call $waitany (i32.const ${DATA + 128}) (i32.const 2) (i32.const -1)))
      (if (i32.ne (local.get $r) (i32.const 2)) (then (call $exit (i32.sub (i32.const -5000) (local.get $r)))))
      (call $exit (call $clock)) (i32.const 0)))`);
  await installAndStart(dev, "waiter", waiter, { Capabilities: { Uart: ["ISU0"] } });
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "waiter"), []);
  port.send(Uint8Array.of(7, 8, 9));
  await dev.run({ untilMs: 300 });
  assert.deepEqual(exitCodes(dev, "waiter"), []);
  port.send(Uint8Array.of(1));
  await dev.run({ untilMs: 2000 });
  const codes = exitCodes(dev, "waiter");
  assert.equal(codes.length, 1);
  // Woken by the byte, not by the timer (due 1000 ms after wait_any began).
  assert.ok(codes[0] >= 0 && codes[0] < 1000, `woken by the byte, not the timer: ${codes[0]}`);
});
