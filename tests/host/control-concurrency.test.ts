// The control endpoint under several clients: requests from many connections at once are all
// answered, verbs run one at a time device-wide in arrival order, and a client that hangs (half a
// request, or never reading its answers), idles or crowds in cannot block the others or the
// device. Real sockets, a real server, the test's own raw clients.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { serveControl } from "../../host/control/server.js";
import { APPS_PARTITION_BYTES, deviceFolder, RawClient, TestDeviceControl } from "./control-support.js";

const ID = "2f0c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const dev = await deviceFolder();
const control = new TestDeviceControl(APPS_PARTITION_BYTES);
const served = await serveControl(dev, control, { maxClients: 64, requestTimeoutMs: 400, idleTimeoutMs: 1500 });
after(async () => { await served.close(); await control.shutdown(); });

const notInstalled = (id: number) => ({ id, ok: false, error: { code: "not-installed", message: `no app with ComponentId ${ID} is installed` } });

test("four clients at once, each pipelining requests: every answer comes back on its own connection, in order", async () => {
  const clients = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(served.address)));
  clients.forEach((c, i) => c.send([1, 2, 3].map((n) => JSON.stringify({ id: i * 10 + n, verb: n === 2 ? "status" : "listInstalled", ...(n === 2 ? { componentId: ID } : {}) }) + "\n").join("")));
  const answers = await Promise.all(clients.map(async (c) => [await c.next(), await c.next(), await c.next()]));
  answers.forEach((a, i) => assert.deepEqual(a, [{ id: i * 10 + 1, ok: true, result: [] }, notInstalled(i * 10 + 2), { id: i * 10 + 3, ok: true, result: [] }]));
  clients.forEach((c) => c.close());
});

test("verbs run one at a time device-wide: while the device is busy nothing else reaches it, then all run in arrival order", async () => {
  let open!: () => void;
  control.gate = new Promise((resolve) => { open = resolve; });
  const a = await RawClient.connect(served.address);
  const b = await RawClient.connect(served.address);
  const seen = control.calls.length;
  a.send(JSON.stringify({ id: 1, verb: "status", componentId: ID }) + "\n");
  await new Promise((r) => setTimeout(r, 50));
  b.send(JSON.stringify({ id: 2, verb: "quota", componentId: ID }) + "\n");
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(control.calls.slice(seen), [`status ${ID}`], "the second verb waits for the first");
  control.gate = null;
  open();
  assert.deepEqual(await a.next(), notInstalled(1));
  assert.deepEqual(await b.next(), notInstalled(2));
  assert.deepEqual(control.calls.slice(seen), [`status ${ID}`, `quota ${ID}`]);
  a.close(); b.close();
});

test("a client that sends half a request and hangs does not delay others, and is cut off after the request timeout", async () => {
  const hanging = await RawClient.connect(served.address);
  hanging.send('{"id": 1, "verb": "listIns');
  const t0 = Date.now();
  const other = await RawClient.connect(served.address);
  for (let i = 0; i < 5; i++) assert.deepEqual(await other.ask({ id: i, verb: "listInstalled" }), { id: i, ok: true, result: [] });
  assert.ok(Date.now() - t0 < 400, "answered while the other request hung");
  // Bytes that trickle in do not extend the deadline of a request begun.
  const trickle = setInterval(() => hanging.send("x"), 100);
  assert.deepEqual(await hanging.next(2000), { id: null, ok: false, error: { code: "bad-request", message: "request not completed within 400 ms" } });
  clearInterval(trickle);
  await hanging.closed;
  assert.ok(Date.now() - t0 >= 390 && Date.now() - t0 < 1400, `cut off after about 400 ms (${Date.now() - t0})`);
  other.close();
});

test("a client that never reads its answers is cut off; the others are answered meanwhile", async () => {
  const greedy = await RawClient.connect(served.address);
  greedy.socket.pause();
  const line = JSON.stringify({ id: 1, verb: "hello" }) + "\n";
  greedy.send(line.repeat(200_000));
  const other = await RawClient.connect(served.address);
  assert.deepEqual(await other.ask({ id: 7, verb: "listInstalled" }), { id: 7, ok: true, result: [] });
  await greedy.closed;
  assert.deepEqual(await other.ask({ id: 8, verb: "listInstalled" }), { id: 8, ok: true, result: [] });
  other.close();
});

test("an idle connection is closed after the idle timeout", async () => {
  const idle = await RawClient.connect(served.address);
  const t0 = Date.now();
  await idle.closed;
  assert.ok(Date.now() - t0 >= 1400, `idle for the timeout (${Date.now() - t0} ms)`);
});

test("more clients than the bound: the extra one is told so in one line and closed; the others go on", async () => {
  const small = await serveControl(await deviceFolder(), control, { maxClients: 4 });
  const four = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(small.address)));
  for (const c of four) assert.deepEqual(await c.ask({ id: 0, verb: "listInstalled" }), { id: 0, ok: true, result: [] });
  const fifth = await RawClient.connect(small.address);
  assert.deepEqual(await fifth.next(), { id: null, ok: false, error: { code: "unavailable", message: "too many clients (4 connected); try again" } });
  await fifth.closed;
  assert.deepEqual(await four[3].ask({ id: 1, verb: "listInstalled" }), { id: 1, ok: true, result: [] });
  four.forEach((c) => c.close());
  await small.close();
});
