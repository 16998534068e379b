// ping: sends "ping N" to pong over their channel every half second and logs each answer. Both
// manifests list each other in AllowedApplicationConnections, or the channel does not open. If
// pong stops or crashes the channel says so (-EPIPE) and ping opens it again.
import { channel, log, sleepMs, close, EAGAIN, EPIPE } from "@wasphere/sdk";

const PONG = "9b2e7d4a-1c5f-4a83-b6e0-2f8d3c7a1e59";

export function main(): i32 {
  let ch = channel.open(PONG);
  if (ch < 0) { log("cannot open the channel to pong (error " + ch.toString() + ")"); return 1; }
  const answer = new ArrayBuffer(channel.MSG_MAX_BYTES);
  let n = 0;
  while (true) {
    n++;
    const sent = channel.sendString(ch, "ping " + n.toString());
    if (sent == EPIPE) {
      log("pong closed the channel; opening it again");
      close(ch);
      ch = channel.open(PONG);
      if (ch < 0) { log("cannot reopen the channel (error " + ch.toString() + ")"); return 1; }
      continue;
    }
    // Answers for up to half a second.
    for (let waited = 0; waited < 500; waited += 10) {
      const got = channel.recv(ch, answer);
      if (got >= 0) log("got \"" + String.UTF8.decodeUnsafe(changetype<usize>(answer), got) + "\"");
      else if (got != EAGAIN) break;
      sleepMs(10);
    }
  }
}
