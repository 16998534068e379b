// EventRing: what the device did, recorded in a bounded ring that tests assert on and the CLI
// prints from. Oldest entries are overwritten; `seq` numbers never repeat.
import type { AuditEntry } from "./device.js";

export type DeviceEvent =
  | { kind: "gpio"; pin: number; level: number; source: "core" | "external" }
  | { kind: "log"; app: string; text: string }
  | { kind: "app"; app: string; what: "installed" | "started" | "exited" | "trapped" | "restarting" | "gave-up" | "stopped" | "refused" | "updated" | "host error"; detail?: string }
  | { kind: "audit"; app: string; text: string; entry?: AuditEntry }
  /** A peripheral's visible change (a PWM output's new state, a UART's configuration): `iface` is its board name. */
  | { kind: "periph"; iface: string; text: string }
  /** A socket's event on the host network (a connect, a listen, an error): addresses and ports. */
  | { kind: "net"; text: string };

export type RecordedEvent = DeviceEvent & { seq: number; timeMs: number };

export class EventRing {
  private readonly entries: (RecordedEvent | undefined)[];
  private next = 0;
  private readonly listeners = new Set<(e: RecordedEvent) => void>();

  constructor(readonly capacity = 1024) { this.entries = new Array(capacity); }

  /** Records `event`, which becomes the recorded entry (its seq and time are set on it: callers pass a fresh object). */
  push(timeMs: number, event: DeviceEvent): void {
    const recorded = event as RecordedEvent;
    recorded.seq = this.next;
    recorded.timeMs = timeMs;
    this.entries[this.next % this.capacity] = recorded;
    this.next++;
    for (const l of this.listeners) l(recorded);
  }

  /** Every retained event, oldest first. */
  all(): RecordedEvent[] {
    const out: RecordedEvent[] = [];
    for (let s = Math.max(0, this.next - this.capacity); s < this.next; s++) out.push(this.entries[s % this.capacity]!);
    return out;
  }

  of<K extends DeviceEvent["kind"]>(kind: K): Extract<RecordedEvent, { kind: K }>[] {
    return this.all().filter((e) => e.kind === kind) as Extract<RecordedEvent, { kind: K }>[];
  }

  listen(listener: (e: RecordedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
