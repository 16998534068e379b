// UartPort: a UART's wire, as the app's end of it sees it, and its other end for the user.
//
// Mechanism only: the app's configuration (baud, data bits, parity, stop bits, flow control) is
// recorded as applied; what the app writes goes to the port's listeners (the other end: a test,
// a TCP client through host/peripherals/uart-tcp.ts) and what the other end sends waits in a
// bounded receive buffer until the app reads it. Bytes move whole and at once: the model keeps no
// bit timing, so the baud rate changes nothing but what `config` reports.
// Errors are negative errnos as the UART syscalls return them: -EINVAL for a write before a
// configuration. A full receive buffer drops what arrives beyond it and counts it (`overrunBytes`),
// as a UART's FIFO overruns.
// Memory: at most `rxCapacityBytes` buffered.
// Must not: be reachable from an app except through the core's syscalls; import Node APIs.

export const EINVAL = -22;

export interface UartConfig { baudRate: number; dataBits: number; parity: "none" | "even" | "odd"; stopBits: number; flowControl: "none" | "rts-cts" | "xon-xoff" }

export class UartPort {
  config: UartConfig | null = null;
  /** Bytes received from the other end and dropped because the app had not read its buffer. */
  overrunBytes = 0;
  private rx: Uint8Array[] = [];
  private rxBytes = 0;
  private readonly listeners = new Set<(bytes: Uint8Array) => void>();
  private receiveListener: (() => void) | null = null;

  constructor(readonly name: string, readonly rxCapacityBytes = 4096) {}

  /** Hears every byte the app transmits. Returns the unsubscribe function. */
  onTransmit(listener: (bytes: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Told after bytes from the other end reached the receive buffer (the board tells the core). */
  onReceive(listener: () => void): void { this.receiveListener = listener; }

  /** The other end sends `bytes` to the app; what does not fit the receive buffer is dropped. */
  send(bytes: Uint8Array): void {
    const room = this.rxCapacityBytes - this.rxBytes;
    const taken = bytes.subarray(0, Math.max(0, room));
    this.overrunBytes += bytes.length - taken.length;
    if (taken.length === 0) return;
    this.rx.push(taken.slice());
    this.rxBytes += taken.length;
    this.receiveListener?.();
  }

  /** Bytes waiting for the app. */
  get pendingBytes(): number { return this.rxBytes; }

  /** The app's end: applies a configuration (the core checked it). */
  configure(config: UartConfig): void { this.config = config; }

  /** The app's end: transmits `bytes`; how many were taken, or -EINVAL before a configuration. */
  transmit(bytes: Uint8Array): number {
    if (!this.config) return EINVAL;
    for (const l of this.listeners) l(bytes.slice());
    return bytes.length;
  }

  /** The app's end: up to `maxBytes` received bytes (none: an empty array). */
  receive(maxBytes: number): Uint8Array {
    const n = Math.min(maxBytes, this.rxBytes);
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const head = this.rx[0];
      const take = Math.min(head.length, n - at);
      out.set(head.subarray(0, take), at);
      at += take;
      if (take === head.length) this.rx.shift(); else this.rx[0] = head.subarray(take);
    }
    this.rxBytes -= n;
    return out;
  }

  /** The app closed it: the configuration is gone and what it had not read is dropped. */
  reset(): void { this.config = null; this.rx = []; this.rxBytes = 0; }
}
