// The ADC and PWM models: ADC codes against Azure Sphere's conversion (voltage = code * reference
// / (2^bits - 1)), clipping, reference changes and waveforms; PWM_Apply's all-or-nothing states,
// observers told of changes only, and the output level over a period.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AdcController, waveforms, EINVAL } from "../../host/peripherals/adc.js";
import { PwmController, PWM_POLARITY_INVERSED, PWM_POLARITY_NORMAL } from "../../host/peripherals/pwm.js";

test("ADC: codes of 12 bits against a 2.5 V reference, clipped at both ends; a lower reference; bad channels and references", () => {
  const adc = new AdcController(2);
  adc.wire(0, 1.25);
  assert.equal(adc.poll(0, 0), 2048); // 1.25 * 4095 / 2.5 = 2047.5
  assert.ok(Math.abs((adc.poll(0, 0) * 2.5) / 4095 - 1.25) <= 2.5 / 4095 / 2);
  adc.wire(1, -0.3);
  assert.equal(adc.poll(1, 0), 0);
  adc.wire(1, 3.3);
  assert.equal(adc.poll(1, 0), 4095);
  assert.equal(adc.setReferenceVoltage(1.8), 0);
  adc.wire(0, 0.9);
  assert.equal(adc.poll(0, 0), 2048);
  assert.equal(adc.setReferenceVoltage(3), EINVAL);
  assert.equal(adc.setReferenceVoltage(0), EINVAL);
  assert.equal(adc.reference, 1.8, "a refused reference changes nothing");
  assert.equal(adc.poll(2, 0), EINVAL);
  assert.throws(() => adc.wire(5, 1), /channels 0 to 1/);
});

test("ADC: waveforms of device time", () => {
  const adc = new AdcController(1);
  adc.wire(0, waveforms.sine(1.25, 1, 40));
  assert.equal(adc.poll(0, 10), Math.round((2.25 * 4095) / 2.5), "a quarter period: the crest");
  assert.equal(adc.poll(0, 30), Math.round((0.25 * 4095) / 2.5));
  adc.wire(0, waveforms.square(0, 2.5, 10));
  assert.deepEqual([0, 4, 5, 9, 10].map((t) => adc.poll(0, t)), [4095, 4095, 0, 0, 4095]);
  adc.wire(0, waveforms.triangle(0, 2, 100));
  assert.equal(adc.poll(0, 50), Math.round((2 * 4095) / 2.5));
  adc.wire(0, waveforms.sawtooth(0, 2, 100));
  assert.equal(adc.poll(0, 25), Math.round((0.5 * 4095) / 2.5));
});

test("PWM: a state applies whole or not at all; observers hear each change once; the level follows duty and polarity", () => {
  const pwm = new PwmController("PWM-CONTROLLER-0", 4);
  const heard: string[] = [];
  pwm.observe((ch, s) => heard.push(`${ch}:${s.dutyCycleNs}/${s.periodNs}${s.enabled ? "" : " off"}`));
  assert.equal(pwm.apply(1, { periodNs: 1_000_000, dutyCycleNs: 250_000, polarity: PWM_POLARITY_NORMAL, enabled: true }), 0);
  assert.equal(pwm.describe(1), "25.0 % of 1,000,000 ns, normal");
  assert.equal(pwm.apply(1, { periodNs: 1_000_000, dutyCycleNs: 250_000, polarity: PWM_POLARITY_NORMAL, enabled: true }), 0);
  assert.equal(pwm.apply(1, { periodNs: 1_000_000, dutyCycleNs: 1_000_001, polarity: PWM_POLARITY_NORMAL, enabled: true }), EINVAL);
  assert.equal(pwm.apply(1, { periodNs: 0, dutyCycleNs: 0, polarity: PWM_POLARITY_NORMAL, enabled: true }), EINVAL);
  assert.equal(pwm.apply(1, { periodNs: 1000, dutyCycleNs: 10, polarity: 7, enabled: true }), EINVAL);
  assert.equal(pwm.apply(4, { periodNs: 1000, dutyCycleNs: 10, polarity: PWM_POLARITY_NORMAL, enabled: true }), EINVAL);
  assert.deepEqual(pwm.state(1), { periodNs: 1_000_000, dutyCycleNs: 250_000, polarity: PWM_POLARITY_NORMAL, enabled: true }, "refusals changed nothing");
  assert.deepEqual([0, 249_999, 250_000, 999_999, 1_000_000].map((t) => pwm.level(1, t)), [1, 1, 0, 0, 1]);
  assert.equal(pwm.apply(1, { periodNs: 1_000_000, dutyCycleNs: 250_000, polarity: PWM_POLARITY_INVERSED, enabled: true }), 0);
  assert.deepEqual([0, 250_000].map((t) => pwm.level(1, t)), [0, 1]);
  assert.equal(pwm.apply(1, { periodNs: 1_000_000, dutyCycleNs: 250_000, polarity: PWM_POLARITY_INVERSED, enabled: false }), 0);
  assert.equal(pwm.level(1, 0), 1, "disabled, inversed: rests high");
  assert.equal(pwm.describe(1), "disabled");
  assert.deepEqual(heard, ["1:250000/1000000", "1:250000/1000000", "1:250000/1000000 off"]);
});
