// The control endpoint's socket: mode 0600 from the moment it has its name, served only from a
// folder only its owner can change, a killed device's stale socket replaced, a live device's or
// a file that is not a socket never replaced, and close() removing only its own socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { serveControl } from "../../host/control/server.js";
import { connectControl } from "../../host/control/client.js";
import { ControlError } from "../../host/device-control.js";
import { APPS_PARTITION_BYTES, deviceFolder, RawClient, staleSocket, TestDeviceControl } from "./control-support.js";

const control = new TestDeviceControl(APPS_PARTITION_BYTES);
test.after(() => control.shutdown());

const refusal = async (p: Promise<unknown>): Promise<string> => {
  try { await p; } catch (err) { assert.ok(err instanceof ControlError, String(err)); assert.equal(err.code, "unavailable"); return err.message; }
  assert.fail("not refused");
};

test("the socket is DEV/control.sock, a socket of mode 0600, and nothing of its making is left beside it", async () => {
  const dev = await deviceFolder();
  const served = await serveControl(dev, control);
  assert.equal(served.address, join(dev, "control.sock"));
  const st = lstatSync(served.address);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dev).sort(), ["control.sock", "flash.bin", "hardware-definition.json", "pluton.json"]);
  await served.close();
  assert.deepEqual(readdirSync(dev).sort(), ["flash.bin", "hardware-definition.json", "pluton.json"]);
});

test("a folder writable by group or others is refused, and no socket is made", async () => {
  const dev = await deviceFolder();
  chmodSync(dev, 0o770);
  assert.equal(await refusal(serveControl(dev, control)), `${dev}: writable by group or others (mode 0770); the control endpoint needs a folder only its owner can change (chmod go-w)`);
  chmodSync(dev, 0o702);
  assert.match(await refusal(serveControl(dev, control)), /\(mode 0702\)/);
  assert.deepEqual(readdirSync(dev).sort(), ["flash.bin", "hardware-definition.json", "pluton.json"]);
});

test("a killed device's socket is stale: the client sees no device, and the next serve replaces it", async () => {
  const dev = await deviceFolder();
  const path = join(dev, "control.sock");
  await staleSocket(path);
  assert.ok(lstatSync(path).isSocket(), "the killed process left its socket");
  assert.equal(await connectControl(dev), null);
  const served = await serveControl(dev, control);
  assert.equal(lstatSync(path).mode & 0o777, 0o600);
  const c = await connectControl(dev);
  assert.ok(c);
  assert.deepEqual(await c.listInstalled(), []);
  c.close();
  await served.close();
});

test("a live device's socket is never replaced: a second serve is refused and the first keeps answering", async () => {
  const dev = await deviceFolder();
  const first = await serveControl(dev, control);
  const ino = lstatSync(first.address).ino;
  assert.equal(await refusal(serveControl(dev, control)), `${dev}: a device is already running there (its control endpoint answers)`);
  assert.equal(lstatSync(first.address).ino, ino);
  const c = await RawClient.connect(first.address);
  assert.deepEqual(await c.ask({ id: 1, verb: "listInstalled" }), { id: 1, ok: true, result: [] });
  c.close();
  await first.close();
});

test("a file that is not a socket at control.sock is left alone", async () => {
  const dev = await deviceFolder();
  writeFileSync(join(dev, "control.sock"), "mine\n");
  assert.equal(await refusal(serveControl(dev, control)), `${join(dev, "control.sock")}: exists and is not a socket; not replaced`);
  assert.equal(await refusal(connectControl(dev)), `${join(dev, "control.sock")}: exists and is not a socket`);
  assert.equal(readFileSync(join(dev, "control.sock"), "utf8"), "mine\n");
});

test("close() removes only its own socket: one put in its place stays", async () => {
  const dev = await deviceFolder();
  const served = await serveControl(dev, control);
  const other = createServer();
  const { unlinkSync } = await import("node:fs");
  unlinkSync(served.address);
  await new Promise<void>((resolve) => other.listen(served.address, resolve));
  const ino = lstatSync(served.address).ino;
  await served.close();
  assert.equal(lstatSync(served.address).ino, ino);
  await new Promise<void>((resolve) => other.close(() => resolve()));
});
