// PwmController: a PWM controller's channels, each an output the run log and observers can watch.
//
// Mechanism only: PWM_Apply's semantics (Azure Sphere pwm.h): a state of period, duty cycle,
// polarity and enabled is applied to a channel as a whole or not at all; a state whose duty cycle
// exceeds its period, a period of 0 or past the controller's maximum, or an unknown polarity is
// refused and the channel keeps its previous state. Observers hear of each applied state that
// differs from the last (the run log prints the duty cycle); `level(channel, tNs)` says what the
// pin carries at a moment, for a waveform view.
// Errors are negative errnos as the PWM syscalls return them: -EINVAL.
// Memory: one state per channel.
// Must not: be reachable from an app except through the core's syscalls.

export const EINVAL = -22;
export const PWM_POLARITY_NORMAL = 0;
export const PWM_POLARITY_INVERSED = 1;

export interface PwmState {
  periodNs: number;
  dutyCycleNs: number;
  polarity: number;
  enabled: boolean;
}

export type PwmObserver = (channel: number, state: PwmState) => void;

const OFF: PwmState = { periodNs: 0, dutyCycleNs: 0, polarity: PWM_POLARITY_NORMAL, enabled: false };

export class PwmController {
  private readonly states: PwmState[];
  private readonly observers = new Set<PwmObserver>();

  constructor(readonly name: string, readonly channelCount: number, readonly maxPeriodNs = 1_000_000_000) {
    this.states = Array.from({ length: channelCount }, () => ({ ...OFF }));
  }

  observe(observer: PwmObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  state(channel: number): PwmState | null { return this.has(channel) ? { ...this.states[channel] } : null; }

  /** PWM_Apply: 0, or -EINVAL with the channel unchanged. */
  apply(channel: number, next: PwmState): number {
    if (!this.has(channel)) return EINVAL;
    const { periodNs, dutyCycleNs, polarity, enabled } = next;
    if (!Number.isInteger(periodNs) || periodNs <= 0 || periodNs > this.maxPeriodNs) return EINVAL;
    if (!Number.isInteger(dutyCycleNs) || dutyCycleNs < 0 || dutyCycleNs > periodNs) return EINVAL;
    if (polarity !== PWM_POLARITY_NORMAL && polarity !== PWM_POLARITY_INVERSED) return EINVAL;
    const prev = this.states[channel];
    const state = { periodNs, dutyCycleNs, polarity, enabled: enabled === true };
    this.states[channel] = state;
    if (prev.periodNs !== state.periodNs || prev.dutyCycleNs !== state.dutyCycleNs || prev.polarity !== state.polarity || prev.enabled !== state.enabled) {
      for (const o of this.observers) o(channel, { ...state });
    }
    return 0;
  }

  /**
   * The pin's level at `tNs` (0 or 1): active for the duty cycle at the start of each period,
   * inverted by the inversed polarity; a disabled channel rests at its inactive level.
   */
  level(channel: number, tNs: number): number {
    const s = this.states[channel];
    if (!s) return 0;
    const inactive = s.polarity === PWM_POLARITY_INVERSED ? 1 : 0;
    if (!s.enabled) return inactive;
    const phase = ((tNs % s.periodNs) + s.periodNs) % s.periodNs;
    return phase < s.dutyCycleNs ? 1 - inactive : inactive;
  }

  /** "25.0 % of 1,000,000 ns, normal" (or "disabled"), as the run log prints a channel. */
  describe(channel: number): string {
    const s = this.states[channel];
    if (!s) return "no such channel";
    if (!s.enabled) return "disabled";
    const pct = ((100 * s.dutyCycleNs) / s.periodNs).toFixed(1);
    return `${pct} % of ${String(s.periodNs).replace(/\B(?=(\d{3})+(?!\d))/g, ",")} ns, ${s.polarity === PWM_POLARITY_INVERSED ? "inversed" : "normal"}`;
  }

  private has(channel: number): boolean { return Number.isInteger(channel) && channel >= 0 && channel < this.channelCount; }
}
