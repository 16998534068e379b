// connectControl: null when no device runs in the folder, and a bounded wait and a one-line
// ControlError for every way the other end can fail: it never answers, speaks another protocol,
// answers with the wrong shape, or refuses a verb. The far ends here are raw servers of the test's own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { connectControl } from "../../host/control/client.js";
import { ControlError } from "../../host/device-control.js";
import { deviceFolder } from "./control-support.js";

const ID = "2f0c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";

/** A server at DEV/control.sock that answers each request line with `answer(request)` (nothing when it returns null). */
async function fakeDevice(answer: (req: { id: number; verb: string }) => object | null): Promise<{ dev: string; server: Server }> {
  const dev = await deviceFolder();
  const server = createServer((s) => {
    let buf = "";
    s.on("data", (d) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const a = answer(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
        if (a) s.write(JSON.stringify(a) + "\n");
      }
    });
    s.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(join(dev, "control.sock"), resolve));
  return { dev, server };
}
const hello = (id: number) => ({ id, ok: true, result: { protocol: 1, maxPackageBytes: 100, maxRequestBytes: 1160 } });

async function refusal(p: Promise<unknown>): Promise<[string, string]> {
  try { await p; } catch (err) { assert.ok(err instanceof ControlError, String(err)); return [err.code, err.message]; }
  assert.fail("not refused");
}

test("no socket, or no folder at all: no device runs there", async () => {
  const dev = await deviceFolder();
  assert.equal(await connectControl(dev), null);
  assert.equal(await connectControl(join(dev, "nowhere")), null);
});

test("a device that accepts but never answers: refused after the call timeout", async () => {
  const { dev, server } = await fakeDevice(() => null);
  const t0 = Date.now();
  assert.deepEqual(await refusal(connectControl(dev, { callTimeoutMs: 300 })), ["unavailable", `${join(dev, "control.sock")}: no answer to hello within 300 ms`]);
  assert.ok(Date.now() - t0 < 2000);
  server.close();
});

test("another protocol version is refused", async () => {
  const { dev, server } = await fakeDevice((r) => ({ id: r.id, ok: true, result: { protocol: 2, maxPackageBytes: 1, maxRequestBytes: 1 } }));
  assert.deepEqual(await refusal(connectControl(dev)), ["unavailable", `${join(dev, "control.sock")}: the device speaks control protocol 2; this wasphere speaks 1`]);
  server.close();
});

test("answers: refusals carry their code and line, a malformed answer is 'internal', an unknown code too", async () => {
  const { dev, server } = await fakeDevice((r) => r.verb === "hello" ? hello(r.id)
    : r.verb === "status" ? { id: r.id, ok: true, result: { componentId: ID, name: "x", state: "running", crashes: "0", restarts: 0 } }
    : r.verb === "stop" ? { id: r.id, ok: false, error: { code: "melted", message: "line one\nline two\u001b" } }
    : { id: r.id, ok: false, error: { code: "not-installed", message: "no such app" } });
  const c = await connectControl(dev);
  assert.ok(c);
  assert.deepEqual(await refusal(c.start(ID)), ["not-installed", "no such app"]);
  assert.deepEqual(await refusal(c.status(ID)), ["internal", "the device's answer to status is malformed (result.crashes is not a number)"]);
  assert.deepEqual(await refusal(c.stop(ID)), ["internal", "line one"]);
  // Over the device's bound (100 bytes, from hello): refused here, never sent.
  assert.deepEqual(await refusal(c.deploy(new Uint8Array(101))), ["bad-request", "package: 101 bytes; this device takes at most 100 (its apps partition, and the format's limit)"]);
  c.close();
  assert.deepEqual(await refusal(c.listInstalled()), ["unavailable", `${join(dev, "control.sock")}: closed`]);
  server.close();
});

test("the device going away mid-call fails the call at once", async () => {
  let sockets: import("node:net").Socket[] = [];
  const { dev, server } = await fakeDevice((r) => (r.verb === "hello" ? hello(r.id) : (sockets.forEach((s) => s.destroy()), null)));
  server.on("connection", (s) => sockets.push(s));
  const c = await connectControl(dev);
  assert.ok(c);
  assert.deepEqual(await refusal(c.listInstalled()), ["unavailable", `${join(dev, "control.sock")}: the device closed the control connection`]);
  sockets = [];
  server.close();
});
