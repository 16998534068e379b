// Networking (ABI.md "Networking"): real sockets on loopback under each app's AllowedConnections,
// its declared server ports and the network manager's status. Every bypass of the allowlist the
// canonical forms are there to stop is tried (another spelling of an address, a name for a listed
// address, an address for a listed name, wildcard edges) and must be refused before any packet
// leaves: the loopback server counts the connections it saw. Apps are one AssemblyScript test app
// (tests/apps/net-probe) given commands as CmdArgs, so each case is a manifest.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, Socket as NetSocket, type AddressInfo, type Server, type Socket } from "node:net";
import { createSocket } from "node:dgram";
import { createServer as createHttpServer } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as abi from "../../assembly/abi.js";
import { buildApp } from "../../host/apps/build.js";
import { appFromBytes } from "../../host/apps/package.js";
import { Device, InstallError } from "../../host/device.js";
import { RealClock } from "../../host/peripherals/clock.js";
import { Network } from "../../host/net/network.js";
import { startNetworkManager, systemAppsFromTree } from "../../host/net/system-apps.js";
import { manifest, wat } from "./support.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const probeWasm = buildApp(join(root, "tests/apps/net-probe/main.ts"), (p) => { try { return readFileSync(p, "utf8"); } catch { return null; } });

/** Names the tests' resolver knows: everything here is loopback. */
const NAMES: Record<string, string[]> = { "localhost": ["127.0.0.1"], "a.example.test": ["127.0.0.1"], "b.a.example.test": ["127.0.0.1"], "example.test": ["127.0.0.1"], "evil-example.test": ["127.0.0.1"] };

interface Running { dev: Device; network: Network; logs: (app: string) => string[]; stop: () => Promise<void> }

/** A device on a real clock with a loopback network; the network manager first unless told not to. */
async function boot(opts: { manager?: boolean; network?: Network } = {}): Promise<Running> {
  const network = opts.network ?? new Network({ resolve: async (name) => NAMES[name] ?? [] });
  const dev = new Device({ clock: new RealClock(), network });
  if (opts.manager ?? true) await startNetworkManager(dev, systemAppsFromTree());
  const controller = new AbortController();
  const running = dev.run({ signal: controller.signal });
  return {
    dev, network,
    logs: (app) => dev.events.of("log").filter((e) => e.app === app).map((e) => e.text),
    stop: async () => { controller.abort(); await running; network.closeAll(); },
  };
}

/** Installs and starts net-probe as `name` with `caps` and the commands `cmds`. */
async function probe(r: Running, name: string, caps: Record<string, unknown>, cmds: string[]) {
  const app = await r.dev.install(appFromBytes(name, manifest(name, { Capabilities: caps, CmdArgs: cmds }), await probeWasm));
  r.dev.start(app);
  return app;
}

/** Waits until `app` exited (or `ms` pass). */
async function exited(r: Running, app: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!r.dev.events.of("app").some((e) => e.app === app && (e.what === "exited" || e.what === "trapped"))) {
    if (Date.now() > deadline) throw new Error(`${app} did not finish: ${JSON.stringify(r.logs(app))}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

/** `p`, or a rejection after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms))]);
}

/** A TCP echo server on loopback that counts the connections it accepted. */
async function echoServer(): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((s: Socket) => {
    accepted++;
    s.on("data", (d) => { s.end(`echo ${d.toString().trim()}\n`); });
    s.on("error", () => s.destroy());
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  return { server, port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

test("a connection the allowlist names reaches a loopback server; every other spelling is refused before a packet leaves, and audited", async () => {
  const echo = await echoServer();
  const r = await boot();
  try {
    const p = echo.port;
    await probe(r, "by-address", { AllowedConnections: ["127.0.0.1"] }, [
      "ready 3000", `echo 127.0.0.1 ${p} hello`,
      // Another spelling of a listed address is the same host (IPv4-mapped IPv6).
      `try ::ffff:127.0.0.1 ${p}`,
      // Spellings a resolver reads as 127.0.0.1 are not addresses here, and not names either.
      `try 127.1 ${p}`, `try 2130706433 ${p}`, `try 0x7f.0.0.1 ${p}`, `try 127.0.0.01 ${p}`,
      // A name that resolves to the listed address is not the address.
      `try localhost ${p}`,
      // Another loopback address, and IPv6 loopback.
      `try 127.0.0.2 ${p}`, `try [::1] ${p}`,
    ]);
    await exited(r, "by-address");
    assert.deepEqual(r.logs("by-address"), [
      "ready: yes", "echo 127.0.0.1: echo hello",
      "try ::ffff:127.0.0.1: ok",
      `try 127.1: ${-abi.EINVAL}`, `try 2130706433: ${-abi.EINVAL}`, `try 0x7f.0.0.1: ${-abi.EINVAL}`, `try 127.0.0.01: ${-abi.EINVAL}`,
      `try localhost: ${-abi.EACCES}`,
      `try 127.0.0.2: ${-abi.EACCES}`, `try [::1]: ${-abi.EACCES}`,
    ]);
    await probe(r, "by-name", { AllowedConnections: ["localhost", "*.example.test"] }, [
      "ready 3000", `echo LOCALHOST. ${p} named`, `echo b.a.example.test ${p} wild`,
      // An address of a listed name is not the name.
      `try 127.0.0.1 ${p}`,
      // A wildcard covers names below it only.
      `try example.test ${p}`, `try evil-example.test ${p}`, `try a.example.test.evil ${p}`,
      // A wildcard is an entry's form, never a target's.
      `try *.example.test ${p}`,
    ]);
    await exited(r, "by-name");
    assert.deepEqual(r.logs("by-name"), [
      "ready: yes", "echo LOCALHOST.: echo named", "echo b.a.example.test: echo wild",
      `try 127.0.0.1: ${-abi.EACCES}`,
      `try example.test: ${-abi.EACCES}`, `try evil-example.test: ${-abi.EACCES}`, `try a.example.test.evil: ${-abi.EACCES}`,
      `try *.example.test: ${-abi.EINVAL}`,
    ]);
    // Only the three echoes reached the server: the refused ones sent nothing, and the mapped
    // address's try closed its socket in the same slice, before the host began to connect.
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(echo.accepted(), 3);
    const denied = r.dev.audit().filter((e) => e.kind === abi.EV_DENIED && e.syscall === abi.SYS_NET_CONNECT);
    assert.equal(denied.length, 7);
  } finally {
    await r.stop();
    echo.server.close();
  }
});

test("no AllowedConnections: the hook refuses; before the network manager says ready, connects are -ENETDOWN", async () => {
  const echo = await echoServer();
  const r = await boot({ manager: false });
  try {
    await probe(r, "bare", {}, [`try 127.0.0.1 ${echo.port}`]);
    await probe(r, "early", { AllowedConnections: ["127.0.0.1"] }, ["ready 200", `try 127.0.0.1 ${echo.port}`, `try 10.0.0.1 ${echo.port}`]);
    await exited(r, "bare");
    await exited(r, "early");
    assert.deepEqual(r.logs("bare"), [`try 127.0.0.1: ${-abi.EACCES}`]);
    // Not ready; and a target the list does not name is still -EACCES, not a hint that networking is down.
    assert.deepEqual(r.logs("early"), ["ready: no", `try 127.0.0.1: ${-abi.ENETDOWN}`, `try 10.0.0.1: ${-abi.EACCES}`]);
    assert.equal(echo.accepted(), 0);
  } finally {
    await r.stop();
    echo.server.close();
  }
});

test("the network manager is a system app: no user manifest may hold its capability, and it publishes the interface apps read", async () => {
  const r = await boot();
  try {
    await assert.rejects(r.dev.install(appFromBytes("pretender", manifest("pretender", { Capabilities: { NetworkManager: true } }), await probeWasm)),
      (err: unknown) => err instanceof InstallError && err.code === -abi.EPERM && /Capabilities\.NetworkManager: only the network manager, a system app in the OS image, may hold this/.test(err.message));
    await probe(r, "reader", {}, ["ready 3000", "status"]);
    await exited(r, "reader");
    const [ready, status] = r.logs("reader");
    assert.equal(ready, "ready: yes");
    assert.match(status, /^status: \S+ \d+\.\d+\.\d+\.\d+$/);
    assert.match(r.logs("network-manager")[0], /^networking ready on \S+ \(\d+\.\d+\.\d+\.\d+\)$/);
  } finally {
    await r.stop();
  }
});

/** A free TCP (or UDP) port on loopback, as the OS hands one out. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, "127.0.0.1", res));
  const port = (s.address() as AddressInfo).port;
  await new Promise((res) => s.close(res));
  return port;
}

test("a TCP server port must be declared, and is one app's; a client from the host is answered", async () => {
  const port = await freePort();
  const r = await boot();
  try {
    await probe(r, "undeclared", {}, ["ready 3000", `serve ${port}`]);
    await exited(r, "undeclared");
    assert.deepEqual(r.logs("undeclared"), ["ready: yes", `serve: ${-abi.EACCES}`]);
    await probe(r, "server", { AllowedTcpServerPorts: [port] }, ["ready 3000", `serve ${port}`]);
    await assert.rejects(r.dev.install(appFromBytes("rival", manifest("rival", { Capabilities: { AllowedTcpServerPorts: [port] } }), await probeWasm)),
      (err: unknown) => err instanceof InstallError && err.code === -abi.EBUSY && new RegExp(`AllowedTcpServerPorts: port ${port} is owned by "server"`).test(err.message));
    const deadline = Date.now() + 5000;
    while (!r.logs("server").includes("serve: listening") && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    await new Promise((res) => setTimeout(res, 50));
    const reply = await within(new Promise<string>((resolve, reject) => {
      const c = new NetSocket();
      let got = "";
      c.connect(port, "127.0.0.1", () => c.write("knock\n"));
      c.on("data", (d) => { got += d.toString(); });
      c.on("close", () => resolve(got));
      c.on("error", reject);
    }), 5000);
    assert.equal(reply, "echo: knock\n");
    await exited(r, "server");
    assert.deepEqual(r.logs("server"), ["ready: yes", "serve: listening", "serve: answered knock"]);
  } finally {
    await r.stop();
  }
});

test("UDP: a datagram to an allowed host and its answer; a UDP server answers its sender and nobody the list does not name", async () => {
  const peer = createSocket("udp4");
  await new Promise<void>((res) => peer.bind(0, "127.0.0.1", res));
  peer.on("message", (msg, from) => peer.send(`pong ${msg}`, from.port, from.address));
  const udpPort = peer.address().port;
  const serverPort = await freePort();
  const r = await boot();
  try {
    await probe(r, "client", { AllowedConnections: ["127.0.0.1"] }, ["ready 3000", `udp 127.0.0.1 ${udpPort} ping`]);
    await exited(r, "client");
    assert.deepEqual(r.logs("client"), ["ready: yes", "udp 127.0.0.1: pong ping"]);
    await probe(r, "udp-server", { AllowedUdpServerPorts: [serverPort] }, ["ready 3000", `udp-serve ${serverPort}`]);
    const deadline = Date.now() + 5000;
    while (!r.logs("udp-server").includes("udp-serve: listening") && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    // The listener binds after net_listen returned: ask until it answers (a datagram before is lost, as on a wire).
    const asker = createSocket("udp4");
    const answer = new Promise<string>((res) => asker.once("message", (m) => res(m.toString())));
    const again = setInterval(() => asker.send("hi", serverPort, "127.0.0.1"), 50);
    try { assert.equal(await within(answer, 5000), "echo: hi"); } finally { clearInterval(again); asker.close(); }
    await exited(r, "udp-server");
    assert.deepEqual(r.logs("udp-server"), ["ready: yes", "udp-serve: listening", `udp-serve: hi / to other: ${-abi.EACCES}`]);
  } finally {
    await r.stop();
    peer.close();
  }
});

test("the SDK's HTTP client GETs and POSTs JSON through the allowlist; a socket left open at exit is closed by the core", async () => {
  const seen: string[] = [];
  const http = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (d) => { body += d; });
    req.on("end", () => {
      seen.push(`${req.method} ${req.url} ${req.headers["content-type"] ?? "-"} ${body}`);
      res.setHeader("Content-Type", "text/plain");
      // A chunked response (no Content-Length).
      res.write("got ");
      res.end(body || "nothing");
    });
  });
  await new Promise<void>((res) => http.listen(0, "127.0.0.1", res));
  const port = (http.address() as AddressInfo).port;
  const echo = await echoServer();
  let closed = 0;
  echo.server.on("connection", (s) => s.on("close", () => { closed++; }));
  const r = await boot();
  try {
    await probe(r, "web", { AllowedConnections: ["127.0.0.1"] }, [
      "ready 3000", `get http://127.0.0.1:${port}/reading`, `post http://127.0.0.1:${port}/readings {"c":21.5}`, `get http://localhost:${port}/`,
      `hold 127.0.0.1 ${echo.port}`,
    ]);
    await exited(r, "web");
    assert.deepEqual(r.logs("web"), [
      "ready: yes", "get: 200 got nothing", 'post: 200 got {"c":21.5}', `get: ${-abi.EACCES}`, "hold: open",
    ]);
    assert.deepEqual(seen, ["GET /reading - ", 'POST /readings application/json {"c":21.5}']);
    const deadline = Date.now() + 3000;
    while (closed === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    assert.equal(closed, 1);
  } finally {
    await r.stop();
    http.close();
    echo.server.close();
  }
});

test("sockets are a shared pool: an app gets its share and no more (-ENFILE, EV_LIMIT); a forged socket handle is -EBADF, audited", async () => {
  const echo = await echoServer();
  const r = await boot();
  try {
    const DATA = 8192;
    // Opens sockets until one is refused; exits with (opened << 8) | -errno. Then a forged handle.
    const opener = wat(`(module
      (import "applibs" "net_connect" (func $connect (param i32 i32 i32 i32) (result i32)))
      (import "applibs" "net_send" (func $send (param i32 i32 i32) (result i32)))
      (import "applibs" "net_status" (func $status (param i32 i32) (result i32)))
      (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
      (import "applibs" "exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const ${DATA}) "127.0.0.1")
      (func (export "main") (result i32) (local $n i32) (local $h i32)
        (block $ready (loop $w
          (drop (call $status (i32.const ${DATA + 256}) (i32.const 32)))
          (br_if $ready (i32.eq (i32.load8_u (i32.const ${DATA + 256})) (i32.const 1)))
          (drop (call $sleep (i32.const 5))) (br $w)))
        (block $done (loop $more
          (local.set $h (call $connect (i32.const 1) (i32.const ${DATA}) (i32.const 9) (i32.const ${echo.port})))
          (br_if $done (i32.lt_s (local.get $h) (i32.const 0)))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br $more)))
        (if (i32.ne (call $send (i32.const ${(5 << abi.HANDLE_INDEX_BITS) | 7}) (i32.const ${DATA}) (i32.const 1)) (i32.const ${-abi.EBADF})) (then (call $exit (i32.const -1))))
        (i32.or (i32.shl (local.get $n) (i32.const 8)) (i32.sub (i32.const 0) (local.get $h)))))`);
    const app = await r.dev.install(appFromBytes("opener", manifest("opener", { Capabilities: { AllowedConnections: ["127.0.0.1"] } }), opener));
    r.dev.start(app);
    await exited(r, "opener");
    const code = Number(r.dev.events.of("app").find((e) => e.app === "opener" && e.what === "exited")!.detail!.replace("code ", ""));
    // A quarter of the pool, then the refusal.
    assert.deepEqual([code >> 8, code & 0xff], [abi.NET_MAX_SOCKETS / abi.SHARE_MAX_DIVISOR, abi.ENFILE]);
    const audit = r.dev.audit();
    assert.ok(audit.some((e) => e.kind === abi.EV_LIMIT && e.syscall === abi.SYS_NET_CONNECT && e.arg === abi.LIMIT_SOCKETS));
    assert.ok(audit.some((e) => e.kind === abi.EV_BAD_HANDLE && e.syscall === abi.SYS_NET_SEND));
  } finally {
    await r.stop();
    echo.server.close();
  }
});

/** Waits until `app` has logged `n` lines (or `ms` pass). */
async function logged(r: Running, app: string, n: number, ms = 8000): Promise<string[]> {
  const deadline = Date.now() + ms;
  while (r.logs(app).length < n) {
    if (Date.now() > deadline) throw new Error(`${app} logged ${JSON.stringify(r.logs(app))}, not ${n} lines`);
    await new Promise((res) => setTimeout(res, 10));
  }
  return r.logs(app);
}

test("a UDP listener's net_sendto reaches an address the allowlist names that is not the last sender, and is -EACCES (audited) to one it does not name", async () => {
  // The forward goes to 127.0.0.2 (listed), never the sender (127.0.0.1), and to 127.0.0.3 (not listed).
  const target = createSocket("udp4");
  await new Promise<void>((res) => target.bind(0, "127.0.0.2", res));
  const forwarded = new Promise<string>((res) => target.once("message", (m, from) => res(`${m} from ${from.address}`)));
  const tport = target.address().port;
  const serverPort = await freePort();
  const r = await boot();
  try {
    const app = await probe(r, "forwarder", { AllowedUdpServerPorts: [serverPort], AllowedConnections: ["127.0.0.2"] },
      ["ready 3000", `udp-forward ${serverPort} 127.0.0.2 127.0.0.3 ${tport}`]);
    await logged(r, "forwarder", 2);
    const asker = createSocket("udp4");
    const again = setInterval(() => asker.send("hi", serverPort, "127.0.0.1"), 50);
    try { assert.equal(await within(forwarded, 5000), "fwd: hi from 127.0.0.1"); } finally { clearInterval(again); asker.close(); }
    await exited(r, "forwarder");
    assert.deepEqual(r.logs("forwarder"), ["ready: yes", "udp-forward: listening", `udp-forward: hi / 127.0.0.2: 7 / 127.0.0.3: ${-abi.EACCES}`]);
    const denied = r.dev.audit().filter((e) => e.kind === abi.EV_DENIED && e.app === app.slot);
    assert.deepEqual(denied.map((e) => [e.syscall, e.result]), [[abi.SYS_NET_SENDTO, -abi.EACCES]]);
  } finally {
    await r.stop();
    target.close();
  }
});

test("net_state: a bound TCP listener is LISTENING (16), a UDP one LISTENING | CONNECTED | WRITABLE (21); a stream the other end closed is EOF (8) once read", async () => {
  const [tcpPort, udpPort] = [await freePort(), await freePort()];
  const closer = createServer((c: Socket) => c.end("bye"));
  await new Promise<void>((res) => closer.listen(0, "127.0.0.1", res));
  const closerPort = (closer.address() as AddressInfo).port;
  const r = await boot();
  try {
    await probe(r, "states", { AllowedTcpServerPorts: [tcpPort], AllowedUdpServerPorts: [udpPort], AllowedConnections: ["127.0.0.1"] },
      ["ready 3000", `listen-state ${tcpPort} tcp`, `listen-state ${udpPort} udp`, `eof 127.0.0.1 ${closerPort}`]);
    await exited(r, "states");
    assert.deepEqual(r.logs("states"), ["ready: yes",
      `listen-state tcp: ${abi.NET_STATE_LISTENING}`,
      `listen-state udp: ${abi.NET_STATE_LISTENING | abi.NET_STATE_CONNECTED | abi.NET_STATE_WRITABLE}`,
      `eof: bye / ${abi.NET_STATE_EOF}`]);
  } finally {
    await r.stop();
    closer.close();
  }
});

/** A network whose link the test takes down and brings back: the probe then reports no ready interface. */
class SwitchedNetwork extends Network {
  linkUp = true;
  override read(id: number, op: number, arg: number, maxLen: number) {
    if (op === abi.NET_OP_PROBE && !this.linkUp) return new Uint8Array(abi.NET_STATUS_BYTES);
    return super.read(id, op, arg, maxLen);
  }
}

test("the network manager republishes when the link changes: apps see not ready (-ENETDOWN) while it is down, and ready again after", async () => {
  const { server, port } = await echoServer();
  const network = new SwitchedNetwork({ resolve: async (name) => NAMES[name] ?? [] });
  const r = await boot({ network });
  try {
    const [up] = await logged(r, "network-manager", 1);
    assert.match(up, /^networking ready on \S+ \(\d+\.\d+\.\d+\.\d+\)$/);
    network.linkUp = false;
    assert.deepEqual(await logged(r, "network-manager", 2), [up, "networking not ready"]);
    await probe(r, "while-down", { AllowedConnections: ["127.0.0.1"] }, ["status", `try 127.0.0.1 ${port}`]);
    await exited(r, "while-down");
    assert.deepEqual(r.logs("while-down"), ["status: ", `try 127.0.0.1: ${-abi.ENETDOWN}`]);
    network.linkUp = true;
    assert.deepEqual(await logged(r, "network-manager", 3), [up, "networking not ready", up]);
    await probe(r, "after", { AllowedConnections: ["127.0.0.1"] }, ["ready 3000", `try 127.0.0.1 ${port}`]);
    await exited(r, "after");
    assert.deepEqual(r.logs("after"), ["ready: yes", "try 127.0.0.1: ok"]);
  } finally {
    await r.stop();
    server.close();
  }
});
