// GpioBank: the device's GPIO pins, as a model that observers can watch.
//
// Mechanism only: it holds each pin's direction and level, drives outputs when the core says so,
// and lets the outside world (a test, the demo's simulated button) change input levels. Whether an
// app may touch a pin is the core's decision, never this class's.
// Observers hear of a pin when its level changes, or when it becomes an output (its level is
// then driven), never of a write that leaves the level as it was: an app writing the same level
// in a loop costs the observers nothing.
// Must not: be reachable from an app except through the core's syscalls.
import { GPIO_DIR_INPUT, GPIO_DIR_OUTPUT } from "../../assembly/abi.js";

export type GpioObserver = (pin: number, level: number, source: "core" | "external") => void;

const ENODEV = -19;
const EINVAL = -22;

export class GpioBank {
  readonly pinCount: number;
  private readonly levels: Uint8Array;
  private readonly directions: Int8Array;
  private readonly observers = new Set<GpioObserver>();
  /** Set by the device: tells the core an input changed (it wakes waiters). */
  onInputChange: ((pin: number, level: number) => void) | null = null;

  constructor(pinCount: number) {
    this.pinCount = pinCount;
    this.levels = new Uint8Array(pinCount);
    this.directions = new Int8Array(pinCount).fill(-1);
  }

  observe(observer: GpioObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  level(pin: number): number { return this.levels[pin]; }
  direction(pin: number): number { return this.directions[pin]; }

  configure(pin: number, direction: number, initial: number): number {
    if (!this.exists(pin)) return ENODEV;
    if (direction !== GPIO_DIR_INPUT && direction !== GPIO_DIR_OUTPUT) return EINVAL;
    const becomesOutput = direction === GPIO_DIR_OUTPUT && this.directions[pin] !== GPIO_DIR_OUTPUT;
    this.directions[pin] = direction;
    if (direction === GPIO_DIR_OUTPUT) this.set(pin, initial ? 1 : 0, "core", becomesOutput);
    return 0;
  }

  write(pin: number, value: number): number {
    if (!this.exists(pin)) return ENODEV;
    if (this.directions[pin] !== GPIO_DIR_OUTPUT) return EINVAL;
    this.set(pin, value ? 1 : 0, "core");
    return 0;
  }

  read(pin: number): number {
    return this.exists(pin) ? this.levels[pin] : ENODEV;
  }

  /** The outside world drives an input pin (a button, a sensor line). */
  drive(pin: number, level: number): void {
    if (!this.exists(pin)) throw new RangeError(`GPIO ${pin} does not exist (pins 0..${this.pinCount - 1})`);
    if (this.levels[pin] === (level ? 1 : 0)) return;
    this.set(pin, level ? 1 : 0, "external");
    if (this.directions[pin] === GPIO_DIR_INPUT) this.onInputChange?.(pin, this.levels[pin]);
  }

  private set(pin: number, level: number, source: "core" | "external", announce = false): void {
    const changed = this.levels[pin] !== level;
    this.levels[pin] = level;
    if (changed || announce) for (const o of this.observers) o(pin, level, source);
  }

  private exists(pin: number): boolean { return Number.isInteger(pin) && pin >= 0 && pin < this.pinCount; }
}
