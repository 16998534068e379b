// net-probe: a test app that runs the networking commands its CmdArgs list, one an arg, and logs
// each outcome as one line (tests/e2e/net.test.ts reads the log). Commands:
//   ready MS            waits until networking is ready: "ready: yes" / "ready: no"
//   status              "status: NAME A.B.C.D" as the network manager published it
//   try HOST PORT       connect (TCP) and close at once: "try HOST: ok" or "try HOST: ERRNO"
//   echo HOST PORT TEXT connect, send TEXT, read until the other end closes: "echo HOST: REPLY"
//   serve PORT          listen, accept one client, read a line, answer "echo: LINE", close
//   udp HOST PORT TEXT  a UDP socket to HOST, send TEXT, read one datagram: "udp HOST: REPLY"
//   udp-serve PORT      a UDP listener: one datagram, answered to its sender; then a datagram to
//                       192.0.2.1:9 (not allowed): "udp-serve: GOT / to other: ERRNO"
//   get URL             HTTP GET: "get: STATUS BODY"
//   post URL BODY       HTTP POST of BODY as JSON: "post: STATUS BODY"
//   hold HOST PORT      connect and exit with the socket open (the core closes it)
//   udp-forward PORT A B TPORT
//                       a UDP listener: one datagram, then "fwd: GOT" sent to A:TPORT and to
//                       B:TPORT (dotted quads, neither the sender): "udp-forward: GOT / A: RC / B: RC"
//   listen-state PORT P a listener (P tcp or udp) and its net_state once it is bound: "listen-state P: BITS"
//   eof HOST PORT       connect, read to the end of the stream, then net_state: "eof: TEXT / BITS"
import { args, log, net, close, httpGet, httpPost, sleepMs } from "@wasphere/sdk";

function connectWait(host: string, port: i32, protocol: i32): i32 {
  const h = net.connect(host, port, protocol);
  if (h < 0) return h;
  const st = net.waitReady(h, 3000);
  if (st < 0) { close(h); return st; }
  return h;
}

/** The NET_ADDR_BYTES socket address of dotted quad `ip` and `port`. */
function addr4(ip: string, port: i32): ArrayBuffer {
  const a = new ArrayBuffer(net.ADDR_BYTES);
  const p = changetype<usize>(a);
  store<u8>(p, 4);
  store<u16>(p, <u16>port, 2);
  const parts = ip.split(".");
  for (let i = 0; i < 4 && i < parts.length; i++) store<u8>(p + 4 + <usize>i, <u8>I32.parseInt(parts[i]));
  return a;
}

function readAll(h: i32, max: i32): string {
  const buf = new ArrayBuffer(512);
  let text = "";
  while (text.length < max) {
    const n = net.recv(h, buf);
    if (n > 0) { text += String.UTF8.decode(buf.slice(0, n)); continue; }
    if (n == 0) break;
    if (n != -11) return text + " [" + n.toString() + "]";
    if (net.waitReady(h, 3000) < 0) return text + " [timeout]";
  }
  return text;
}

export function main(): i32 {
  const list = args();
  for (let i = 0; i < list.length; i++) {
    const w = list[i].split(" ");
    const cmd = w[0];
    if (cmd == "ready") {
      log("ready: " + (net.waitUntilReady(I32.parseInt(w[1])) ? "yes" : "no"));
    } else if (cmd == "status") {
      log("status: " + net.interfaceText());
    } else if (cmd == "try") {
      const h = net.connect(w[1], I32.parseInt(w[2]));
      log("try " + w[1] + ": " + (h >= 0 ? "ok" : h.toString()));
      if (h >= 0) close(h);
    } else if (cmd == "echo") {
      const h = connectWait(w[1], I32.parseInt(w[2]), net.TCP);
      if (h < 0) { log("echo " + w[1] + ": " + h.toString()); continue; }
      net.sendString(h, w[3] + "\n");
      log("echo " + w[1] + ": " + readAll(h, 4096).trim());
      close(h);
    } else if (cmd == "serve") {
      const l = net.listen(I32.parseInt(w[1]));
      if (l < 0) { log("serve: " + l.toString()); continue; }
      log("serve: listening");
      let c = net.accept(l);
      while (c == -11) { if (net.waitReady(l, 5000) < 0) break; c = net.accept(l); }
      if (c < 0) { log("serve: accept " + c.toString()); close(l); continue; }
      let line = "";
      const buf = new ArrayBuffer(256);
      while (line.indexOf("\n") < 0) {
        const n = net.recv(c, buf);
        if (n > 0) { line += String.UTF8.decode(buf.slice(0, n)); continue; }
        if (n == 0 || n != -11 || net.waitReady(c, 3000) < 0) break;
      }
      net.sendString(c, "echo: " + line);
      log("serve: answered " + line.trim());
      close(c);
      close(l);
    } else if (cmd == "udp") {
      const h = connectWait(w[1], I32.parseInt(w[2]), net.UDP);
      if (h < 0) { log("udp " + w[1] + ": " + h.toString()); continue; }
      net.sendString(h, w[3]);
      const buf = new ArrayBuffer(256);
      let n = net.recv(h, buf);
      while (n == -11) { if (net.waitReady(h, 3000) < 0) break; n = net.recv(h, buf); }
      log("udp " + w[1] + ": " + (n >= 0 ? String.UTF8.decode(buf.slice(0, n)) : n.toString()));
      close(h);
    } else if (cmd == "udp-serve" || cmd == "udp-forward") {
      const l = net.listen(I32.parseInt(w[1]), net.UDP);
      if (l < 0) { log(cmd + ": " + l.toString()); continue; }
      log(cmd + ": listening");
      const buf = new ArrayBuffer(256);
      const from = new ArrayBuffer(net.ADDR_BYTES);
      let n = net.recvFrom(l, buf, from);
      while (n == -11) { if (net.waitReady(l, 5000) < 0) break; n = net.recvFrom(l, buf, from); }
      if (n < 0) { log(cmd + ": " + n.toString()); close(l); continue; }
      const got = String.UTF8.decode(buf.slice(0, n));
      if (cmd == "udp-serve") {
        net.sendTo(l, String.UTF8.encode("echo: " + got), from);
        const rc = net.sendTo(l, String.UTF8.encode("x"), addr4("192.0.2.1", 9));
        log("udp-serve: " + got + " / to other: " + rc.toString());
      } else {
        const tport = I32.parseInt(w[4]);
        const toA = net.sendTo(l, String.UTF8.encode("fwd: " + got), addr4(w[2], tport));
        const toB = net.sendTo(l, String.UTF8.encode("fwd: " + got), addr4(w[3], tport));
        log("udp-forward: " + got + " / " + w[2] + ": " + toA.toString() + " / " + w[3] + ": " + toB.toString());
      }
      close(l);
    } else if (cmd == "listen-state") {
      const l = net.listen(I32.parseInt(w[1]), w[2] == "udp" ? net.UDP : net.TCP);
      if (l < 0) { log("listen-state " + w[2] + ": " + l.toString()); continue; }
      // The host binds after net_listen returned: ask until the listener says it is bound.
      let st = net.state(l);
      for (let tries = 0; tries < 300 && st >= 0 && (st & net.STATE_LISTENING) == 0; tries++) { sleepMs(10); st = net.state(l); }
      log("listen-state " + w[2] + ": " + st.toString());
      close(l);
    } else if (cmd == "eof") {
      const h = connectWait(w[1], I32.parseInt(w[2]), net.TCP);
      if (h < 0) { log("eof: " + h.toString()); continue; }
      const text = readAll(h, 4096);
      log("eof: " + text + " / " + net.state(h).toString());
      close(h);
    } else if (cmd == "get") {
      const r = httpGet(w[1], 3000);
      log("get: " + (r.error != 0 ? r.error.toString() : r.response!.status.toString() + " " + r.response!.bodyText()));
    } else if (cmd == "post") {
      const r = httpPost(w[1], w[2], "application/json", 3000);
      log("post: " + (r.error != 0 ? r.error.toString() : r.response!.status.toString() + " " + r.response!.bodyText()));
    } else if (cmd == "hold") {
      const h = connectWait(w[1], I32.parseInt(w[2]), net.TCP);
      log("hold: " + (h >= 0 ? "open" : h.toString()));
      sleepMs(50);
      return 0;
    }
  }
  return 0;
}
