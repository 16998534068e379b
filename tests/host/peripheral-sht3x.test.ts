// The SHT3x-DIS model on an I2C bus, against its datasheet: the CRC example, the raw-value
// conversions, measurement timing with and without clock stretching, periodic mode and fetch, the
// status register's bits, and the bus's answers for absent and reserved addresses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { I2cBus, ENXIO, EINVAL, ETIMEDOUT } from "../../host/peripherals/i2c.js";
import { Sht3x, SHT3X_ADDRESS, type Sht3xEnvironment, sht3xCrc8, rawTemperature, rawHumidity, temperatureOf, humidityOf } from "../../host/peripherals/sht3x.js";

const cmd = (c: number) => Uint8Array.of(c >> 8, c & 0xff);
const word = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];

function bus(env: Sht3xEnvironment = { temperatureC: 25, humidityPercent: 50 }): { bus: I2cBus; part: Sht3x } {
  const b = new I2cBus();
  const part = new Sht3x(env);
  b.attach(SHT3X_ADDRESS, part);
  return { bus: b, part };
}

test("CRC-8 is the datasheet's: CRC(0xBEEF) = 0x92; and the conversions round-trip within one step", () => {
  assert.equal(sht3xCrc8([0xbe, 0xef]), 0x92);
  assert.equal(rawTemperature(25), 26214); // (25 + 45) / 175 * 65535 = 26214
  assert.equal(rawHumidity(50), 32768); // 32767.5 rounds up
  assert.equal(rawTemperature(-45), 0);
  assert.equal(rawTemperature(130), 65535);
  assert.equal(rawTemperature(200), 65535, "clamped");
  assert.ok(Math.abs(temperatureOf(rawTemperature(21.37)) - 21.37) <= 175 / 65535 / 2 + 1e-12);
  assert.ok(Math.abs(humidityOf(rawHumidity(63.2)) - 63.2) <= 100 / 65535 / 2 + 1e-12);
});

test("single shot without clock stretching: no acknowledge until the measurement is done, then T, CRC, RH, CRC once", () => {
  const { bus: b } = bus();
  assert.equal(b.write(SHT3X_ADDRESS, cmd(0x2400), 100), 2);
  assert.equal(b.read(SHT3X_ADDRESS, 6, 114.9), ENXIO, "high repeatability takes up to 15 ms");
  const r = b.read(SHT3X_ADDRESS, 6, 115) as Uint8Array;
  assert.deepEqual([...r], [0x66, 0x66, sht3xCrc8([0x66, 0x66]), 0x80, 0x00, sht3xCrc8([0x80, 0x00])]);
  assert.equal(word(r, 0), rawTemperature(25));
  assert.equal(b.read(SHT3X_ADDRESS, 6, 120), ENXIO, "the result is read once");
  b.write(SHT3X_ADDRESS, cmd(0x2416), 200);
  assert.equal(b.read(SHT3X_ADDRESS, 6, 203.9), ENXIO);
  assert.equal((b.read(SHT3X_ADDRESS, 2, 204) as Uint8Array).length, 2, "low repeatability: 4 ms; a short read takes the T word only");
});

test("single shot with clock stretching: the read is held until the result, and a bus timeout shorter than that fails", () => {
  const { bus: b } = bus();
  b.write(SHT3X_ADDRESS, cmd(0x2c06), 0);
  assert.equal(word(b.read(SHT3X_ADDRESS, 6, 1) as Uint8Array, 3), 32768);
  b.timeoutMs = 5;
  b.write(SHT3X_ADDRESS, cmd(0x2c06), 50);
  assert.equal(b.read(SHT3X_ADDRESS, 6, 51), ETIMEDOUT);
  b.write(SHT3X_ADDRESS, cmd(0x2c0d), 100);
  assert.ok(b.read(SHT3X_ADDRESS, 6, 101) instanceof Uint8Array, "medium repeatability (6 ms) stretches 5 ms");
});

test("periodic mode: fetch gets each new sample once, as sensed at its time; break ends it", () => {
  const { bus: b } = bus({ temperatureC: (t: number) => 20 + t / 1000, humidityPercent: 40 });
  b.write(SHT3X_ADDRESS, cmd(0x2130), 0); // 1 measurement a second, high repeatability
  assert.equal(b.writeThenRead(SHT3X_ADDRESS, cmd(0xe000), 6, 10), ENXIO, "no sample done yet");
  const first = b.writeThenRead(SHT3X_ADDRESS, cmd(0xe000), 6, 20) as Uint8Array;
  assert.equal(word(first, 0), rawTemperature(20.015));
  assert.equal(b.writeThenRead(SHT3X_ADDRESS, cmd(0xe000), 6, 900), ENXIO, "nothing new since the last fetch");
  const second = b.writeThenRead(SHT3X_ADDRESS, cmd(0xe000), 6, 2500) as Uint8Array;
  assert.equal(word(second, 0), rawTemperature(22.015), "the newest done sample (at 2000 ms), not the one missed");
  b.write(SHT3X_ADDRESS, cmd(0x2400), 2600);
  const status = b.writeThenRead(SHT3X_ADDRESS, cmd(0xf32d), 3, 2600) as Uint8Array;
  assert.equal(word(status, 0) & 2, 2, "a single shot is not taken in periodic mode: command status set");
  b.write(SHT3X_ADDRESS, cmd(0x3093), 2700);
  assert.equal(b.writeThenRead(SHT3X_ADDRESS, cmd(0xe000), 6, 4000), ENXIO, "fetch outside periodic mode gets nothing");
});

test("status register: reset and alert set at power-up, clear, heater, unknown command, soft reset", () => {
  const { bus: b } = bus();
  const status = (t: number) => {
    const r = b.writeThenRead(SHT3X_ADDRESS, cmd(0xf32d), 3, t) as Uint8Array;
    assert.equal(r[2], sht3xCrc8([r[0], r[1]]), "the status word carries its CRC");
    return word(r, 0);
  };
  assert.equal(status(0), 0x8010);
  b.write(SHT3X_ADDRESS, cmd(0x3041), 1);
  assert.equal(status(1), 0x0000);
  b.write(SHT3X_ADDRESS, cmd(0x306d), 2);
  assert.equal(status(2), 0x2000);
  b.write(SHT3X_ADDRESS, cmd(0x1234), 3);
  assert.equal(status(3), 0x2002, "an unknown command is acknowledged, not processed, and flagged");
  b.write(SHT3X_ADDRESS, cmd(0x3066), 4);
  assert.equal(status(4), 0x0000, "a processed command clears the flag");
  b.write(SHT3X_ADDRESS, cmd(0x30a2), 5);
  assert.equal(status(5), 0x8010);
});

test("the bus: no target is ENXIO, a reserved address EINVAL, a second target at one address refused", () => {
  const { bus: b } = bus();
  assert.equal(b.write(0x45, cmd(0x2400), 0), ENXIO);
  assert.equal(b.read(0x45, 6, 0), ENXIO);
  assert.equal(b.write(0x03, cmd(0x2400), 0), EINVAL);
  assert.equal(b.write(0x78, cmd(0x2400), 0), EINVAL);
  assert.throws(() => b.attach(SHT3X_ADDRESS, new Sht3x({ temperatureC: 0, humidityPercent: 0 })), /already has a target/);
  assert.equal(b.transferMs(2), 0.27, "3 bytes of 9 clocks at 100 kHz");
});
