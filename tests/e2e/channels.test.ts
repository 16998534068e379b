// App-to-app channels (ABI.md "Channels"): a channel opens only when both apps list each other;
// messages arrive whole and in order, a full queue is -EAGAIN and a short buffer -EMSGSIZE with
// nothing lost; a partner's exit is -EPIPE once its messages are read; every refusal is audited.
import test from "node:test";
import assert from "node:assert/strict";
import * as abi from "../../assembly/abi.js";
import { appFromBytes } from "../../host/apps/package.js";
import { device, exitCodes, manifest, wat } from "./support.js";

const IMPORTS = `
  (import "applibs" "exit" (func $exit (param i32)))
  (import "applibs" "sleep_ms" (func $sleep (param i32) (result i32)))
  (import "applibs" "close" (func $close (param i32) (result i32)))
  (import "applibs" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "applibs" "channel_send" (func $send (param i32 i32 i32) (result i32)))
  (import "applibs" "channel_recv" (func $recv (param i32 i32 i32) (result i32)))`;
const DATA = 8192;
const ID_A = "0c0a0000-0000-4000-8000-00000000000a";
const ID_B = "0c0b0000-0000-4000-8000-00000000000b";
const ID_C = "0c0c0000-0000-4000-8000-00000000000c";

/** A module whose main exits with `body`'s i32; the partner's id text is at DATA, "hello" at DATA + 64. */
function probe(peer: string, body: string): Uint8Array {
  return wat(`(module ${IMPORTS}
    (memory (export "memory") 1)
    (data (i32.const ${DATA}) "${peer}")
    (data (i32.const ${DATA + 64}) "hello")
    (func (export "main") (result i32) (local $h i32) (local $r i32) (local $i i32)
      (call $exit ${body}) (i32.const 0)))`);
}
const OPEN = `(local.set $h (call $open (i32.const ${DATA}) (i32.const 36)))
  (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $exit (i32.sub (i32.const -1000) (local.get $h)))))`;

async function pair(a: { body: string; lists?: string[] }, b: { body: string; lists?: string[] }, untilMs = 2000) {
  const dev = device();
  const install = async (name: string, id: string, peer: string, p: { body: string; lists?: string[] }) => {
    const caps = { AllowedApplicationConnections: p.lists ?? [peer] };
    return dev.install(appFromBytes(name, manifest(name, { ComponentId: id, Capabilities: caps }), probe(peer, p.body)));
  };
  const appA = await install("a", ID_A, ID_B, a);
  const appB = await install("b", ID_B, ID_A, b);
  dev.start(appA);
  dev.start(appB);
  await dev.run({ untilMs });
  return { dev, a: exitCodes(dev, "a"), b: exitCodes(dev, "b") };
}

test("both apps list each other: a message sent before the partner opened arrives whole, in order, to it alone", async () => {
  const r = await pair(
    { body: `${OPEN} (drop (call $send (local.get $h) (i32.const ${DATA + 64}) (i32.const 5))) (drop (call $send (local.get $h) (i32.const ${DATA + 64}) (i32.const 2))) (drop (call $sleep (i32.const 500))) (i32.const 7)` },
    { body: `(drop (call $sleep (i32.const 100))) ${OPEN}
      (local.set $r (call $recv (local.get $h) (i32.const ${DATA + 128}) (i32.const 64)))
      (if (i32.ne (local.get $r) (i32.const 5)) (then (call $exit (i32.sub (i32.const -2000) (local.get $r)))))
      (local.set $r (call $recv (local.get $h) (i32.const ${DATA + 192}) (i32.const 64)))
      (if (i32.ne (local.get $r) (i32.const 2)) (then (call $exit (i32.sub (i32.const -3000) (local.get $r)))))
      (local.set $r (call $recv (local.get $h) (i32.const ${DATA + 192}) (i32.const 64)))
      (if (i32.ne (local.get $r) (i32.const ${-abi.EAGAIN})) (then (call $exit (i32.sub (i32.const -4000) (local.get $r)))))
      (i32.add (i32.load8_u (i32.const ${DATA + 128})) (i32.shl (i32.load8_u (i32.const ${DATA + 132})) (i32.const 8)))` });
  assert.deepEqual(r.a, [7]);
  assert.deepEqual(r.b, ["h".charCodeAt(0) + ("o".charCodeAt(0) << 8)]);
});

test("one side declaring is not enough; a partner not installed, or itself, is refused the same way; each refusal is audited", async () => {
  const refused = await pair({ body: `(call $open (i32.const ${DATA}) (i32.const 36))` }, { body: `(call $open (i32.const ${DATA}) (i32.const 36))`, lists: [ID_C] });
  assert.deepEqual(refused.a, [-abi.EACCES]);
  assert.deepEqual(refused.b, [-abi.EACCES]);
  assert.deepEqual(refused.dev.audit().filter((e) => e.kind === abi.EV_DENIED).map((e) => [e.syscall, e.arg]), [[abi.SYS_CHANNEL_OPEN, DATA], [abi.SYS_CHANNEL_OPEN, DATA]]);
  // Listing an app that is not installed.
  const dev = device();
  const lone = await dev.install(appFromBytes("a", manifest("a", { ComponentId: ID_A, Capabilities: { AllowedApplicationConnections: [ID_C] } }), probe(ID_C, `(call $open (i32.const ${DATA}) (i32.const 36))`)));
  dev.start(lone);
  await dev.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(dev, "a"), [-abi.EACCES]);
  // Without the capability at all: the hook's refusal.
  const bare = device();
  bare.start(await bare.install(appFromBytes("a", manifest("a", { ComponentId: ID_A }), probe(ID_B, `(call $open (i32.const ${DATA}) (i32.const 36))`))));
  await bare.run({ untilMs: 100 });
  assert.deepEqual(exitCodes(bare, "a"), [-abi.EACCES]);
  // Bad ids, forged handles.
  const bad = await pair({ body: `(call $open (i32.const ${DATA}) (i32.const 35))` }, { body: `(call $send (i32.const ${(1 << abi.HANDLE_INDEX_BITS) | 3}) (i32.const ${DATA}) (i32.const 1))` });
  assert.deepEqual(bad.a, [-abi.EINVAL]);
  assert.deepEqual(bad.b, [-abi.EBADF]);
  assert.deepEqual(bad.dev.audit().filter((e) => e.kind === abi.EV_BAD_HANDLE).map((e) => e.syscall), [abi.SYS_CHANNEL_SEND]);
});

test("a full queue is -EAGAIN with nothing sent; a message over 256 bytes and a short buffer are -EMSGSIZE with nothing lost; an end opens once", async () => {
  const r = await pair(
    { body: `${OPEN}
      (local.set $r (call $send (local.get $h) (i32.const ${DATA}) (i32.const ${abi.CHANNEL_MSG_MAX_BYTES + 1})))
      (if (i32.ne (local.get $r) (i32.const ${-abi.EMSGSIZE})) (then (call $exit (i32.sub (i32.const -7000) (local.get $r)))))
      (local.set $i (i32.const 0))
      (loop $l
        (local.set $r (call $send (local.get $h) (i32.const ${DATA + 64}) (i32.const 5)))
        (if (i32.ne (local.get $r) (i32.const 5)) (then (call $exit (i32.add (i32.mul (local.get $i) (i32.const 1000)) (local.get $r)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const ${abi.CHANNEL_DEPTH + 1}))))
      (i32.const 0)` },
    { body: `(drop (call $sleep (i32.const 100))) ${OPEN}
      (local.set $r (call $open (i32.const ${DATA}) (i32.const 36)))
      (if (i32.ne (local.get $r) (i32.const ${-abi.EBUSY})) (then (call $exit (i32.sub (i32.const -5000) (local.get $r)))))
      (local.set $r (call $recv (local.get $h) (i32.const ${DATA + 128}) (i32.const 4)))
      (if (i32.ne (local.get $r) (i32.const ${-abi.EMSGSIZE})) (then (call $exit (i32.sub (i32.const -6000) (local.get $r)))))
      ;; all eight are there, whole
      (local.set $i (i32.const 0))
      (loop $l
        (local.set $r (call $recv (local.get $h) (i32.const ${DATA + 128}) (i32.const 64)))
        (if (i32.ne (local.get $r) (i32.const 5)) (then (call $exit (i32.sub (i32.const -8000) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const ${abi.CHANNEL_DEPTH}))))
      (call $recv (local.get $h) (i32.const ${DATA + 128}) (i32.const 64))` });
  // The ninth send (i = 8) found the queue full.
  assert.deepEqual(r.a, [abi.CHANNEL_DEPTH * 1000 - abi.EAGAIN]);
  // After the eight: the partner exited (after sending them, before b opened), so -EPIPE.
  assert.deepEqual(r.b, [-abi.EPIPE]);
});

test("a partner that exits or crashes closes the channel: what it sent is still read, then -EPIPE for receive and send; a new open reaches its next start", async () => {
  const dev = device();
  const a = await dev.install(appFromBytes("a", manifest("a", { ComponentId: ID_A, Capabilities: { AllowedApplicationConnections: [ID_B] } }),
    probe(ID_B, `${OPEN} (drop (call $send (local.get $h) (i32.const ${DATA + 64}) (i32.const 5))) (unreachable)`)));
  const b = await dev.install(appFromBytes("b", manifest("b", { ComponentId: ID_B, Capabilities: { AllowedApplicationConnections: [ID_A] } }),
    probe(ID_A, `(drop (call $sleep (i32.const 50))) ${OPEN}
      (local.set $r (call $recv (local.get $h) (i32.const ${DATA + 128}) (i32.const 64)))
      (if (i32.ne (local.get $r) (i32.const 5)) (then (call $exit (i32.sub (i32.const -2000) (local.get $r)))))
      (local.set $r (call $recv (local.get $h) (i32.const ${DATA + 128}) (i32.const 64)))
      (if (i32.ne (local.get $r) (i32.const ${-abi.EPIPE})) (then (call $exit (i32.sub (i32.const -3000) (local.get $r)))))
      (local.set $r (call $send (local.get $h) (i32.const ${DATA + 64}) (i32.const 5)))
      (if (i32.ne (local.get $r) (i32.const ${-abi.EPIPE})) (then (call $exit (i32.sub (i32.const -4000) (local.get $r)))))
      (drop (call $close (local.get $h)))
      ;; a's restart (after its backoff) opens a new channel; reopening reaches it
      (drop (call $sleep (i32.const 300)))
      ${OPEN}
      (call $recv (local.get $h) (i32.const ${DATA + 128}) (i32.const 64))`)));
  dev.start(a);
  dev.start(b);
  await dev.run({ untilMs: 1000 });
  assert.deepEqual(exitCodes(dev, "b"), [5]);
  assert.ok(dev.events.of("app").filter((e) => e.app === "a" && e.what === "trapped").length >= 2);
});

test("a manifest lists at most four partners, each once, as ComponentIds", async () => {
  const dev = device();
  const refusal = async (list: unknown) => {
    try { await dev.install(appFromBytes("m", manifest("m", { Capabilities: { AllowedApplicationConnections: list } }), probe(ID_A, "(i32.const 0)"))); } catch (err) { return (err as Error).message; }
    return "accepted";
  };
  const ids = [1, 2, 3, 4, 5].map((n) => `0c0d0000-0000-4000-8000-00000000000${n}`);
  assert.equal(await refusal(ids.slice(0, 4)), "accepted");
  assert.match(await refusal(ids), /Capabilities\.AllowedApplicationConnections\[4\]: at most 4 apps may be listed$/);
  assert.match(await refusal([ids[0], ids[0]]), /Capabilities\.AllowedApplicationConnections\[1\]: listed twice$/);
  assert.match(await refusal(["nope"]), /Capabilities\.AllowedApplicationConnections\[0\]: expected a GUID like/);
});

test("examples/ping and examples/pong talk over their channel, each manifest listing the other", async () => {
  const { appFromDirectory } = await import("../../host/apps/package.js");
  const { example } = await import("./support.js");
  const dev = device();
  const ping = await dev.install(appFromDirectory(example("ping")));
  const pong = await dev.install(appFromDirectory(example("pong")));
  dev.start(ping);
  dev.start(pong);
  await dev.run({ untilMs: 1600 });
  const logs = (app: string) => dev.events.of("log").filter((e) => e.app === app).map((e) => e.text);
  assert.deepEqual(logs("ping"), ['got "pong 1"', 'got "pong 2"', 'got "pong 3"', 'got "pong 4"']);
  assert.deepEqual(logs("pong"), ['answered "ping 1"', 'answered "ping 2"', 'answered "ping 3"']);
  // pong stops: ping's next send is -EPIPE, it reopens, and pong's next start answers again.
  dev.stop(pong);
  await dev.run({ untilMs: 2600 });
  assert.ok(logs("ping").includes("pong closed the channel; opening it again"), JSON.stringify(logs("ping")));
  dev.start(pong);
  await dev.run({ untilMs: 3700 });
  assert.match(logs("ping").at(-1)!, /^got "pong \d+"$/);
});

test("a channel handle is waitable: wait blocks until a message comes and answers its length; the partner's exit answers -EPIPE", async () => {
  const WAIT = `(import "applibs" "wait" (func $wait (param i32 i32) (result i32)))`;
  const dev = device();
  const sender = wat(`(module ${IMPORTS} (memory (export "memory") 1) (data (i32.const ${DATA}) "${ID_B}") (data (i32.const ${DATA + 64}) "hello")
    (func (export "main") (result i32) (local $h i32)
      (local.set $h (call $open (i32.const ${DATA}) (i32.const 36)))
      (drop (call $sleep (i32.const 200)))
      (drop (call $send (local.get $h) (i32.const ${DATA + 64}) (i32.const 5)))
      (drop (call $sleep (i32.const 200)))
      (i32.const 0)))`);
  const receiver = wat(`(module ${IMPORTS} ${WAIT} (import "applibs" "clock_ms" (func $clock (result i32))) (memory (export "memory") 1) (data (i32.const ${DATA}) "${ID_A}")
    (func (export "main") (result i32) (local $h i32) (local $r i32) (local $at i32)
      (drop (call $sleep (i32.const 50)))
      (local.set $h (call $open (i32.const ${DATA}) (i32.const 36)))
      (local.set $r (call $wait (local.get $h) (i32.const -1)))
      (if (i32.ne (local.get $r) (i32.const 5)) (then (call $exit (i32.sub (i32.const -1000) (local.get $r)))))
      (local.set $at (call $clock))
      (local.set $r (call $recv (local.get $h) (i32.const ${DATA + 128}) (i32.const 64)))
      (if (i32.ne (local.get $r) (i32.const 5)) (then (call $exit (i32.sub (i32.const -2000) (local.get $r)))))
      (local.set $r (call $wait (local.get $h) (i32.const -1)))
      (if (i32.ne (local.get $r) (i32.const ${-abi.EPIPE})) (then (call $exit (i32.sub (i32.const -3000) (local.get $r)))))
      (call $exit (i32.add (i32.mul (local.get $at) (i32.const 10000)) (call $clock))) (i32.const 0)))`);
  const a = await dev.install(appFromBytes("a", manifest("a", { ComponentId: ID_A, Capabilities: { AllowedApplicationConnections: [ID_B] } }), sender));
  const b = await dev.install(appFromBytes("b", manifest("b", { ComponentId: ID_B, Capabilities: { AllowedApplicationConnections: [ID_A] } }), receiver));
  dev.start(a);
  dev.start(b);
  await dev.run({ untilMs: 1000 });
  const [code] = exitCodes(dev, "b");
  // Woken at the send (200 ms), then at a's exit (400 ms).
  assert.equal(Math.floor(code / 10000), 200, String(code));
  assert.equal(code % 10000, 400, String(code));
});
