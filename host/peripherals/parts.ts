// parts: what is wired to a board's interfaces, as a device folder's `parts.json` describes it
// (SPEC.md, "Parts"), so a user plugs in a sensor, a flash chip, a knob or a serial terminal
// without touching the core or writing code.
//
// Mechanism only: each entry names a part model of host/peripherals and the interface (and
// address, chip select or channel) it hangs on; `wireParts` attaches them to a Board. A UART's
// loopback TCP port is opened by the caller (uart-tcp.ts needs Node), from `uartPorts`.
// Errors: a malformed entry is a PartsError naming the entry and the field.
// Must not: import Node APIs (a browser wires parts too).
import type { Board } from "./board.js";
import { Sht3x, SHT3X_ADDRESS } from "./sht3x.js";
import { SpiNorFlash, W25Q128JV, W25Q80DV } from "./spi-nor.js";
import { waveforms, type AdcSource } from "./adc.js";

export class PartsError extends Error {}

export type PartEntry =
  | { Part: "SHT3x"; Interface: string; Address?: number; TemperatureC?: number; HumidityPercent?: number }
  | { Part: "W25Q128JV" | "W25Q80DV"; Interface: string; ChipSelect?: number }
  | { Part: "AdcInput"; Interface: string; Channel: number; Volts?: number; Waveform?: { Shape: keyof typeof waveforms; Low: number; High: number; PeriodMs: number } }
  | { Part: "UartTcp"; Interface: string; Port?: number };

export interface WiredParts {
  /** The UARTs to bridge to loopback TCP, with the port asked for (0: any). */
  uartPorts: { iface: string; port: number }[];
  /** One line per part, for the boot log. */
  lines: string[];
}

const num = (v: unknown, what: string, min: number, max: number, dflt?: number): number => {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) throw new PartsError(`${what} must be a number from ${min} to ${max}`);
  return v;
};

/** Attaches `entries` (parsed parts.json) to `board`. */
export function wireParts(board: Board, entries: unknown, where: string): WiredParts {
  if (!Array.isArray(entries)) throw new PartsError(`${where}: must be a JSON array of parts`);
  const out: WiredParts = { uartPorts: [], lines: [] };
  entries.forEach((raw, i) => {
    const at = `${where}[${i}]`;
    const e = raw as PartEntry;
    if (!e || typeof e !== "object" || typeof e.Interface !== "string") throw new PartsError(`${at}: an object with Part and Interface`);
    let iface;
    try { iface = board.byName(e.Interface); } catch (err) { throw new PartsError(`${at}: ${(err as Error).message}`); }
    try {
      switch (e.Part) {
        case "SHT3x": {
          const address = num(e.Address, "Address", 0x44, 0x45, SHT3X_ADDRESS);
          const t = num(e.TemperatureC, "TemperatureC", -40, 125, 22), h = num(e.HumidityPercent, "HumidityPercent", 0, 100, 45);
          board.i2c(iface.name).attach(address, new Sht3x({ temperatureC: t, humidityPercent: h }));
          out.lines.push(`${iface.name}: SHT3x at I2C address 0x${address.toString(16)} (${t} °C, ${h} %RH)`);
          break;
        }
        case "W25Q128JV": case "W25Q80DV": {
          const cs = num(e.ChipSelect, "ChipSelect", 0, 3, 0);
          board.spi(iface.name).attach(cs, new SpiNorFlash(e.Part === "W25Q80DV" ? W25Q80DV : W25Q128JV));
          out.lines.push(`${iface.name}: ${e.Part} NOR flash on chip select ${cs}`);
          break;
        }
        case "AdcInput": {
          const channel = num(e.Channel, "Channel", 0, iface.channels - 1);
          let source: AdcSource;
          let text: string;
          if (e.Waveform) {
            const w = e.Waveform;
            if (!(w.Shape in waveforms)) throw new PartsError(`Waveform.Shape must be one of ${Object.keys(waveforms).join(", ")}`);
            const low = num(w.Low, "Waveform.Low", -10, 10), high = num(w.High, "Waveform.High", -10, 10), periodMs = num(w.PeriodMs, "Waveform.PeriodMs", 1, 3_600_000);
            source = w.Shape === "sine" ? waveforms.sine((low + high) / 2, (high - low) / 2, periodMs) : waveforms[w.Shape](low, high, periodMs);
            text = `${w.Shape} ${low} V to ${high} V every ${periodMs} ms`;
          } else {
            source = num(e.Volts, "Volts", -10, 10, 0);
            text = `${source} V`;
          }
          board.adc(iface.name).wire(channel, source);
          out.lines.push(`${iface.name}: channel ${channel} fed ${text}`);
          break;
        }
        case "UartTcp":
          board.uart(iface.name);
          out.uartPorts.push({ iface: iface.name, port: num(e.Port, "Port", 0, 65535, 0) });
          break;
        default:
          throw new PartsError(`Part must be one of SHT3x, W25Q128JV, W25Q80DV, AdcInput, UartTcp`);
      }
    } catch (err) {
      if (err instanceof PartsError || err instanceof RangeError) throw new PartsError(`${at}: ${err.message}`);
      throw err;
    }
  });
  return out;
}
