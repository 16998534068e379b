// Board: the device's peripheral interfaces and the parts wired to them, as the host simulates
// them; the mechanism behind the core's `periph-control` and `periph-read` (SPEC.md, "Peripheral
// calls").
//
// Mechanism only: the core decides who may use an interface and checks every value an app gives
// before a call reaches here; the board decodes the call, hands it to the interface's model (a
// UartPort, an I2cBus, an SpiBus, an AdcController, a PwmController) and encodes the answer.
// A user adds a part by attaching it to a bus (`board.i2c("ISU1").attach(0x44, new Sht3x(...))`)
// or wiring a channel; the core does not change.
// Interfaces are given to the core in order (Device calls board_add for each), so an interface's
// index here is its id there.
// Errors are negative errnos: -ENODEV for an id or function the board does not have, -EINVAL for
// an op it does not know or bytes that are not the op's encoding (a core fault), and what the
// models answer.
// Memory: the models'.
// Must not: decide policy; import Node APIs (browsers run it).
import * as abi from "../../assembly/abi.js";
import { I2cBus } from "./i2c.js";
import { SpiBus, type SpiSegment } from "./spi.js";
import { AdcController } from "./adc.js";
import { PwmController } from "./pwm.js";
import { UartPort } from "./uart.js";

export interface BoardInterfaceSpec {
  name: string;
  /** PERIPH_* bits (abi.ts). */
  functions: number;
  /** ADC or PWM channels (0 for the others). */
  channels?: number;
  /** The GPIO pins the interface muxes (owning it owns them). */
  pins?: number[];
}

export interface BoardInterface extends Required<BoardInterfaceSpec> {
  id: number;
  uart: UartPort | null;
  i2c: I2cBus | null;
  spi: SpiBus | null;
  adc: AdcController | null;
  pwm: PwmController | null;
  /** The function it is open as now (0: closed). */
  openAs: number;
}

/** A line for the run log: a PWM output's new state, a UART configured. */
export type BoardObserver = (iface: BoardInterface, text: string) => void;

const PARITY = ["none", "even", "odd"] as const;
const FLOW = ["none", "rts-cts", "xon-xoff"] as const;

export class Board {
  readonly interfaces: BoardInterface[] = [];
  private readonly observers = new Set<BoardObserver>();
  /** Told when an interface has new input for the core (a UART received bytes); the Device sets it. */
  onInput: ((id: number) => void) | null = null;

  constructor(specs: BoardInterfaceSpec[] = []) {
    for (const s of specs) this.add(s);
  }

  add(spec: BoardInterfaceSpec): BoardInterface {
    if (this.interfaces.some((i) => i.name === spec.name)) throw new RangeError(`board: ${spec.name} is on the board already`);
    const f = spec.functions, channels = spec.channels ?? 0;
    const iface: BoardInterface = {
      id: this.interfaces.length, name: spec.name, functions: f, channels, pins: spec.pins ?? [], openAs: 0,
      uart: f & abi.PERIPH_UART ? new UartPort(spec.name) : null,
      i2c: f & abi.PERIPH_I2C ? new I2cBus() : null,
      spi: f & abi.PERIPH_SPI ? new SpiBus() : null,
      adc: f & abi.PERIPH_ADC ? new AdcController(channels) : null,
      pwm: f & abi.PERIPH_PWM ? new PwmController(spec.name, channels) : null,
    };
    iface.pwm?.observe((channel) => this.tell(iface, `channel ${channel}: ${iface.pwm!.describe(channel)}`));
    iface.uart?.onReceive(() => this.onInput?.(iface.id));
    this.interfaces.push(iface);
    return iface;
  }

  observe(observer: BoardObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  private tell(iface: BoardInterface, text: string): void { for (const o of this.observers) o(iface, text); }

  byName(name: string): BoardInterface {
    const i = this.interfaces.find((x) => x.name === name);
    if (!i) throw new RangeError(`board: no interface ${name} (it has ${this.interfaces.map((x) => x.name).join(", ") || "none"})`);
    return i;
  }
  uart(name: string): UartPort { return this.model(name, "uart"); }
  i2c(name: string): I2cBus { return this.model(name, "i2c"); }
  spi(name: string): SpiBus { return this.model(name, "spi"); }
  adc(name: string): AdcController { return this.model(name, "adc"); }
  pwm(name: string): PwmController { return this.model(name, "pwm"); }

  private model<K extends "uart" | "i2c" | "spi" | "adc" | "pwm">(name: string, kind: K): NonNullable<BoardInterface[K]> {
    const m = this.byName(name)[kind];
    if (!m) throw new RangeError(`board: ${name} has no ${kind}`);
    return m as NonNullable<BoardInterface[K]>;
  }

  private at(id: number, fn: number): BoardInterface | null {
    const i = this.interfaces[id];
    return i && (i.functions & fn) !== 0 ? i : null;
  }

  private callDepth = 0;
  /** True while a call from the core is being answered (input then must wait until it returns: the core is not re-entrant). */
  get inCall(): boolean { return this.callDepth > 0; }

  /** periph-control: a value >= 0 or a negative errno. */
  control(id: number, fn: number, op: number, arg: number, data: Uint8Array, nowMs: number): number {
    this.callDepth++;
    try { return this.controlNow(id, fn, op, arg, data, nowMs); } finally { this.callDepth--; }
  }

  /** periph-read: at most `maxLen` bytes, or a negative errno. */
  read(id: number, fn: number, op: number, arg: number, data: Uint8Array, maxLen: number, nowMs: number): Uint8Array | number {
    this.callDepth++;
    try { return this.readNow(id, fn, op, arg, data, maxLen, nowMs); } finally { this.callDepth--; }
  }

  private controlNow(id: number, fn: number, op: number, arg: number, data: Uint8Array, nowMs: number): number {
    const i = this.at(id, fn);
    if (!i) return -abi.ENODEV;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (op === abi.PERIPH_OP_OPEN) { i.openAs = fn; return 0; }
    if (op === abi.PERIPH_OP_CLOSE) { this.release(i, fn); return 0; }
    switch (fn) {
      case abi.PERIPH_UART:
        if (op === abi.UART_OP_CONFIGURE && data.length === abi.UART_CONFIG_BYTES) {
          const config = { baudRate: view.getUint32(0, true), dataBits: data[4], parity: PARITY[data[5]], stopBits: data[6], flowControl: FLOW[data[7]] };
          if (!config.parity || !config.flowControl) return -abi.EINVAL;
          i.uart!.configure(config);
          this.tell(i, `UART ${config.baudRate} baud, ${config.dataBits}${config.parity[0].toUpperCase()}${config.stopBits}, flow control ${config.flowControl}`);
          return 0;
        }
        if (op === abi.UART_OP_WRITE) return i.uart!.transmit(data);
        if (op === abi.UART_OP_PENDING) return i.uart!.pendingBytes;
        break;
      case abi.PERIPH_I2C:
        if (op === abi.I2C_OP_CONFIGURE && data.length === 8) {
          i.i2c!.busSpeedHz = view.getUint32(0, true);
          i.i2c!.timeoutMs = view.getUint32(4, true);
          return 0;
        }
        if (op === abi.I2C_OP_WRITE) return i.i2c!.write(arg, data, nowMs);
        break;
      case abi.PERIPH_ADC:
        if (op === abi.ADC_OP_POLL) return i.adc!.poll(arg, nowMs);
        if (op === abi.ADC_OP_SAMPLE_BITS) return arg < i.channels ? i.adc!.sampleBitCount : -abi.EINVAL;
        if (op === abi.ADC_OP_SET_REFERENCE && data.length === 4) return i.adc!.setReferenceVoltage(view.getUint32(0, true) / 1e6);
        break;
      case abi.PERIPH_PWM:
        if (op === abi.PWM_OP_APPLY && data.length === abi.PWM_STATE_BYTES) {
          return i.pwm!.apply(arg, { periodNs: view.getUint32(0, true), dutyCycleNs: view.getUint32(4, true), polarity: view.getUint32(8, true), enabled: view.getUint32(12, true) === 1 });
        }
        break;
    }
    return -abi.EINVAL;
  }

  private readNow(id: number, fn: number, op: number, arg: number, data: Uint8Array, maxLen: number, nowMs: number): Uint8Array | number {
    const i = this.at(id, fn);
    if (!i) return -abi.ENODEV;
    if (fn === abi.PERIPH_UART && op === abi.UART_OP_READ) return i.uart!.config ? i.uart!.receive(maxLen) : -abi.EINVAL;
    if (fn === abi.PERIPH_I2C && op === abi.I2C_OP_READ) return i.i2c!.read(arg, maxLen, nowMs);
    if (fn === abi.PERIPH_I2C && op === abi.I2C_OP_WRITE_READ) return i.i2c!.writeThenRead(arg, data, maxLen, nowMs);
    if (fn === abi.PERIPH_SPI && op === abi.SPI_OP_TRANSFER) return spiTransfer(i.spi!, arg, data, maxLen, nowMs);
    return -abi.EINVAL;
  }

  /** An app closed interface `i` (or stopped, or crashed): its part goes back to idle. */
  private release(i: BoardInterface, fn: number): void {
    i.openAs = 0;
    if (fn === abi.PERIPH_UART) i.uart!.reset();
    if (fn === abi.PERIPH_PWM) {
      for (let ch = 0; ch < i.channels; ch++) {
        const s = i.pwm!.state(ch);
        if (s && s.enabled) i.pwm!.apply(ch, { ...s, enabled: false });
      }
    }
  }
}

/** SPEC.md's SPI transfer encoding: an 8-byte configuration, then (kind, 0, length u16, bytes if a write) per transfer. */
function spiTransfer(bus: SpiBus, chipSelect: number, data: Uint8Array, readTotal: number, nowMs: number): Uint8Array | number {
  if (data.length < abi.SPI_CONFIG_BYTES) return -abi.EINVAL;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const config = { clockHz: view.getUint32(0, true), mode: data[4], lsbFirst: data[5] === 1 };
  const segments: SpiSegment[] = [];
  let at = abi.SPI_CONFIG_BYTES, reads = 0;
  while (at < data.length) {
    if (at + 4 > data.length) return -abi.EINVAL;
    const kind = data[at], len = view.getUint16(at + 2, true);
    at += 4;
    if (kind === abi.SPI_TRANSFER_WRITE) {
      if (at + len > data.length) return -abi.EINVAL;
      segments.push({ write: data.subarray(at, at + len) });
      at += len;
    } else if (kind === abi.SPI_TRANSFER_READ) {
      segments.push({ readLength: len });
      reads += len;
    } else return -abi.EINVAL;
  }
  if (reads !== readTotal) return -abi.EINVAL;
  return bus.transfer(chipSelect, config, segments, nowMs);
}

/**
 * Gives a booted core the interfaces of `specs`, in order (kernel board-add), so that each one's
 * id there is its index here. Returns null, or what went wrong (`lastError` is the core's text).
 */
export function addBoardToCore(boardAdd: (name: Uint8Array, functions: number, channels: number, pins: Uint8Array) => number,
  lastError: () => string, specs: readonly BoardInterfaceSpec[]): string | null {
  for (let index = 0; index < specs.length; index++) {
    const s = specs[index];
    // Interface names are ASCII (the core refuses anything else), and some engines have no TextEncoder.
    const id = boardAdd(Uint8Array.from(s.name, (c) => c.charCodeAt(0) & 0xff), s.functions, s.channels ?? 0, Uint8Array.from(s.pins ?? []));
    if (id < 0) return `board_add ${s.name}: ${lastError() || `refused (${id})`}`;
    if (id !== index) return `board_add ${s.name}: the core gave it id ${id}, not ${index}`;
  }
  return null;
}

/**
 * The board `device create` describes (SPEC.md, "Hardware definition"), after the MT3620's
 * layout: ISU0..ISU4, each a UART, an I2C master or an SPI master, muxing five pins each; an ADC
 * controller with 8 channels on pins 41..48; a PWM controller with 4 channels on pins 0..3.
 * On a device of fewer pins an interface muxes only the pins the device has.
 */
export function defaultBoardSpecs(gpioPinCount: number): BoardInterfaceSpec[] {
  const isuPins = [26, 31, 36, 66, 71];
  const isu = abi.PERIPH_UART | abi.PERIPH_I2C | abi.PERIPH_SPI;
  const specs: BoardInterfaceSpec[] = isuPins.map((first, n) => ({ name: `ISU${n}`, functions: isu, channels: 0, pins: [0, 1, 2, 3, 4].map((k) => first + k) }));
  specs.push({ name: "ADC-CONTROLLER-0", functions: abi.PERIPH_ADC, channels: 8, pins: [41, 42, 43, 44, 45, 46, 47, 48] });
  specs.push({ name: "PWM-CONTROLLER-0", functions: abi.PERIPH_PWM, channels: 4, pins: [0, 1, 2, 3] });
  return specs.map((s) => ({ ...s, pins: (s.pins ?? []).filter((p) => p < gpioPinCount) }));
}
