// AdcController: an analog-to-digital converter's channels, fed by what the user wires to them.
//
// Mechanism only: a channel's input is a voltage the user sets, a waveform of device time, or any
// function of it; a poll converts the input at that moment into a code of `sampleBitCount` bits
// against the reference voltage, as Azure Sphere's ADC_Poll returns it (so an app converts back
// with voltage = code * reference / (2^bits - 1)). Inputs outside 0..reference clip to the ends.
// Errors are negative errnos as the ADC syscalls return them: -EINVAL for a channel the
// controller does not have, or a reference voltage outside (0, maxReferenceVolts].
// Memory: one source per channel.
// Must not: be reachable from an app except through the core's syscalls.

export const EINVAL = -22;

export type AdcSource = number | ((nowMs: number) => number);

/** Waveforms a user can wire to a channel: volts as a function of device time in ms. */
export const waveforms = {
  sine: (offsetVolts: number, amplitudeVolts: number, periodMs: number) => (t: number) => offsetVolts + amplitudeVolts * Math.sin((2 * Math.PI * t) / periodMs),
  square: (lowVolts: number, highVolts: number, periodMs: number) => (t: number) => (((t % periodMs) + periodMs) % periodMs < periodMs / 2 ? highVolts : lowVolts),
  triangle: (lowVolts: number, highVolts: number, periodMs: number) => (t: number) => {
    const phase = (((t % periodMs) + periodMs) % periodMs) / periodMs;
    return lowVolts + (highVolts - lowVolts) * (phase < 0.5 ? 2 * phase : 2 - 2 * phase);
  },
  sawtooth: (lowVolts: number, highVolts: number, periodMs: number) => (t: number) => lowVolts + (highVolts - lowVolts) * ((((t % periodMs) + periodMs) % periodMs) / periodMs),
};

export class AdcController {
  private readonly sources: AdcSource[];
  private referenceVolts: number;

  constructor(readonly channelCount: number, readonly sampleBitCount = 12, readonly maxReferenceVolts = 2.5) {
    this.sources = new Array<AdcSource>(channelCount).fill(0);
    this.referenceVolts = maxReferenceVolts;
  }

  /** Wires `source` (volts, or volts as a function of device time) to `channel`. */
  wire(channel: number, source: AdcSource): void {
    if (!this.has(channel)) throw new RangeError(`ADC channel ${channel}: this controller has channels 0 to ${this.channelCount - 1}`);
    this.sources[channel] = source;
  }

  /** ADC_SetReferenceVoltage: 0 or -EINVAL. */
  setReferenceVoltage(volts: number): number {
    if (!(volts > 0) || volts > this.maxReferenceVolts) return EINVAL;
    this.referenceVolts = volts;
    return 0;
  }

  get reference(): number { return this.referenceVolts; }

  /** ADC_Poll: the code for `channel`'s input now, or -EINVAL. */
  poll(channel: number, nowMs: number): number {
    if (!this.has(channel)) return EINVAL;
    const src = this.sources[channel];
    const volts = typeof src === "function" ? src(nowMs) : src;
    const full = 2 ** this.sampleBitCount - 1;
    if (!Number.isFinite(volts) || volts <= 0) return 0;
    if (volts >= this.referenceVolts) return full;
    return Math.round((volts * full) / this.referenceVolts);
  }

  private has(channel: number): boolean { return Number.isInteger(channel) && channel >= 0 && channel < this.channelCount; }
}
