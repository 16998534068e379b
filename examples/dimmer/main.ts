// dimmer: a knob on ADC channel 0 sets the brightness of an LED on PWM channel 0. Every 50 ms it
// polls the knob and applies the duty cycle that matches it (1 kHz), in steps of 1 %, applying a
// new state only when the step changes; the run log shows each state the PWM output takes.
import { adc, pwm, board, log, sleepMs } from "@wasphere/sdk";

const KNOB_CHANNEL = 0;
const LED_CHANNEL = 0;
const PERIOD_NS: u32 = 1000000;
const POLL_MS = 50;

export function main(): i32 {
  const knob = adc.open(board.ADC_CONTROLLER0);
  if (knob < 0) { log("cannot open the ADC (error " + knob.toString() + ")"); return 1; }
  const led = pwm.open(board.PWM_CONTROLLER0);
  if (led < 0) { log("cannot open the PWM controller (error " + led.toString() + ")"); return 1; }
  const bits = adc.sampleBits(knob, KNOB_CHANNEL);
  if (bits < 1) { log("cannot read the ADC's sample size (error " + bits.toString() + ")"); return 1; }
  const full = (1 << bits) - 1;
  let lastPercent = -1;
  while (true) {
    const sample = adc.poll(knob, KNOB_CHANNEL);
    if (sample >= 0) {
      const percent = (sample * 100 + full / 2) / full;
      if (percent != lastPercent) {
        const rc = pwm.apply(led, LED_CHANNEL, PERIOD_NS, PERIOD_NS / 100 * <u32>percent);
        if (rc < 0) { log("PWM refused the state (error " + rc.toString() + ")"); return 1; }
        lastPercent = percent;
      }
    }
    sleepMs(POLL_MS);
  }
}
