// pong: answers each "ping N" that comes over its channel from ping with "pong N", waiting on the
// channel's handle between messages.
import { channel, log, close, EAGAIN, EPIPE } from "@wasphere/sdk";

const PING = "3f6a2c1e-8b4d-4e7f-9a02-5c1d7e3b9f41";

export function main(): i32 {
  let ch = channel.open(PING);
  if (ch < 0) { log("cannot open the channel to ping (error " + ch.toString() + ")"); return 1; }
  const message = new ArrayBuffer(channel.MSG_MAX_BYTES);
  let answered = 0;
  while (true) {
    const got = channel.recv(ch, message);
    if (got == EAGAIN) { channel.waitMessage(ch); continue; }
    if (got == EPIPE) {
      close(ch);
      ch = channel.open(PING);
      if (ch < 0) { log("cannot reopen the channel (error " + ch.toString() + ")"); return 1; }
      continue;
    }
    if (got < 0) { log("receive failed (error " + got.toString() + ")"); return 1; }
    const text = String.UTF8.decodeUnsafe(changetype<usize>(message), got);
    const reply = text.startsWith("ping ") ? "pong " + text.substring(5) : "pong?";
    channel.sendString(ch, reply);
    answered++;
    if (answered <= 3 || answered % 100 == 0) log("answered \"" + text + "\"");
  }
}
