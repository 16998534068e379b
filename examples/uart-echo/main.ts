// uart-echo: echoes each line it receives on its UART (ISU0, 115200 8N1) back as "echo: LINE".
// On a device whose parts.json bridges ISU0 to a loopback TCP port, `nc 127.0.0.1 PORT` talks
// to it. Reads never block; with nothing received it waits on the UART's handle, so it is
// suspended (and costs nothing) until bytes arrive.
import { uart, board, log, sleepMs, EAGAIN } from "@wasphere/sdk";

const LINE_MAX = 256;

export function main(): i32 {
  const port = uart.open(board.ISU0, 115200);
  if (port < 0) { log("cannot open ISU0 as a UART (error " + port.toString() + ")"); return 1; }
  log("echoing lines on ISU0");
  const chunk = new ArrayBuffer(64);
  const line = new ArrayBuffer(LINE_MAX);
  let lineLen = 0;
  while (true) {
    const n = uart.read(port, chunk);
    if (n == EAGAIN) { uart.waitReadable(port); continue; }
    if (n < 0) { log("read failed (error " + n.toString() + ")"); return 1; }
    for (let i = 0; i < n; i++) {
      const c = load<u8>(changetype<usize>(chunk) + <usize>i);
      if (c == 0x0a || lineLen == LINE_MAX) {
        const text = String.UTF8.decodeUnsafe(changetype<usize>(line), lineLen);
        const reply = "echo: " + text + "\n";
        const bytes = String.UTF8.encode(reply);
        let sent = 0;
        while (sent < bytes.byteLength) {
          const w = uart.write(port, bytes.slice(sent));
          if (w == EAGAIN) { sleepMs(1); continue; }
          if (w < 0) { log("write failed (error " + w.toString() + ")"); return 1; }
          sent += w;
        }
        log("echoed " + lineLen.toString() + " bytes");
        lineLen = 0;
        if (c == 0x0a) continue;
      }
      if (c != 0x0d) { store<u8>(changetype<usize>(line) + <usize>lineLen, c); lineLen++; }
    }
  }
}
