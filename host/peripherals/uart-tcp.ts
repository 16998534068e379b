// UART over TCP: a UartPort's other end on a loopback TCP port, so `nc 127.0.0.1 PORT` or a
// terminal program talks to the app.
//
// Mechanism only: one client at a time (a second is told so and closed); what the client sends
// goes to the app's receive buffer, what the app transmits goes to the client (and is dropped
// while none is connected, as on an unplugged wire). Listens on 127.0.0.1 only.
// Memory: the socket's own buffers.
// Must not: listen beyond loopback.
import { createServer, type Server, type Socket } from "node:net";
import type { UartPort } from "./uart.js";

export class UartTcpBridge {
  private server: Server | null = null;
  private client: Socket | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(readonly port: UartPort) {}

  /** Listens on 127.0.0.1:`tcpPort` (0: any free port); the port it got. */
  async listen(tcpPort = 0): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(tcpPort, "127.0.0.1", () => { server.off("error", reject); resolve(); });
    });
    this.unsubscribe = this.port.onTransmit((bytes) => { if (this.client && !this.client.destroyed) this.client.write(bytes); });
    const address = server.address();
    return typeof address === "object" && address ? address.port : tcpPort;
  }

  private accept(socket: Socket): void {
    if (this.client && !this.client.destroyed) {
      socket.end(`${this.port.name} has a client already\n`);
      return;
    }
    this.client = socket;
    socket.on("data", (chunk: Buffer) => this.port.send(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
    socket.on("close", () => { if (this.client === socket) this.client = null; });
    socket.on("error", () => socket.destroy());
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.client?.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
