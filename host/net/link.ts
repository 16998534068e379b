// What a Device needs of a network (SPEC.md "Network calls"): the hal's net-control and net-read,
// and a way to hear that a socket has news. host/net/network.ts is the Node one (real sockets);
// a host without one leaves DeviceConfig.network out, and every connect answers -ENODEV.
// Must not: import anything that exists on one host only (the browser bundle imports this).
export interface NetworkLink {
  /** A network operation answering a number: >= 0 or -errno. Never throws. */
  control(socket: number, op: number, arg: number, data: Uint8Array): number;
  /** A network operation answering at most `maxLen` bytes, or -errno. Never throws. */
  read(socket: number, op: number, arg: number, maxLen: number): Uint8Array | number;
  /** Set by the Device: called outside any core call when socket `socket` has news. */
  onNotify: ((socket: number) => void) | null;
  /** Hears each socket event as a line for the run log; the function returned stops it. */
  observe(fn: (text: string) => void): () => void;
  /** Connects and resolves under way, and a promise for the next one to finish. */
  readonly pendingOperations: number;
  settled(): Promise<void>;
  /** Closes every socket (the core rebooted, the device stops). */
  closeAll(): void;
}
