// The control endpoint's request/response format (SPEC.md, "Control endpoint"), spoken over a real
// Unix socket by a raw line client: every verb's answer, and the one-line error of each malformed,
// unknown, ill-typed or oversized request. The deploy bound is the apps partition of a real
// device folder's table, read by the core.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { serveControl } from "../../host/control/server.js";
import { parsePackage } from "../../host/apps/imagepkg.js";
import { APPS_PARTITION_BYTES, deviceFolder, RawClient, TestDeviceControl, tinyPackage } from "./control-support.js";

const ID = "2f0c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const dev = await deviceFolder();
const control = new TestDeviceControl(APPS_PARTITION_BYTES);
const served = await serveControl(dev, control);
const pkg = await tinyPackage("sleeper", ID);
const MAX_REQUEST = 4 * Math.ceil(APPS_PARTITION_BYTES / 3) + 1024;
after(async () => { await served.close(); await control.shutdown(); });

const bad = (id: unknown, message: string) => ({ id, ok: false, error: { code: "bad-request", message } });

test("hello: the protocol version and the bounds, the package bound being the apps partition's size", async () => {
  const c = await RawClient.connect(served.address);
  assert.equal(APPS_PARTITION_BYTES, 1044480);
  assert.deepEqual(await c.ask({ id: 1, verb: "hello" }), { id: 1, ok: true, result: { protocol: 1, maxPackageBytes: 1044480, maxRequestBytes: MAX_REQUEST } });
  c.close();
});

test("every verb: deploy, list, start, status, quota, memory stats, stop, replace, remove", async () => {
  const c = await RawClient.connect(served.address);
  assert.deepEqual(await c.ask({ id: "empty", verb: "listInstalled" }), { id: "empty", ok: true, result: [] });
  const info = parsePackage(pkg);
  const image = { componentId: ID, imageId: info.imageId, name: "sleeper", version: 1, imageType: 10, packageBytes: pkg.length, offsetBytes: 0x201000 };
  assert.deepEqual(await c.ask({ id: 2, verb: "deploy", package: Buffer.from(pkg).toString("base64") }), { id: 2, ok: true, result: { ...image, replaced: false } });
  assert.deepEqual(await c.ask({ id: 3, verb: "listInstalled" }), { id: 3, ok: true, result: [image] });
  const app = { componentId: ID, name: "sleeper", crashes: 0, restarts: 0 };
  // An upper-case ComponentId is the same component.
  assert.deepEqual(await c.ask({ id: 4, verb: "start", componentId: ID.toUpperCase() }), { id: 4, ok: true, result: { ...app, state: "running" } });
  assert.deepEqual(await c.ask({ id: 5, verb: "status", componentId: ID }), { id: 5, ok: true, result: { ...app, state: "running" } });
  assert.deepEqual(await c.ask({ id: 6, verb: "quota", componentId: ID }), { id: 6, ok: true, result: { componentId: ID, name: "sleeper", quotaBytes: 0, usedBytes: 0 } });
  const mem = (await c.ask({ id: 7, verb: "memoryStats", componentId: ID })) as { result: Record<string, number> };
  assert.deepEqual({ ...mem, result: { ...mem.result, memoryBytes: 0, memPeakBytes: 0 } }, { id: 7, ok: true, result: { componentId: ID, name: "sleeper", quotaBytes: 131072, memoryBytes: 0, memPeakBytes: 0 } });
  assert.deepEqual(await c.ask({ id: 8, verb: "stop", componentId: ID }), { id: 8, ok: true, result: { ...app, state: "stopped" } });
  const v2 = await tinyPackage("sleeper", ID, { version: 2 });
  const r = (await c.ask({ id: 9, verb: "deploy", package: Buffer.from(v2).toString("base64") })) as { result: Record<string, unknown> };
  assert.deepEqual([r.result.version, r.result.replaced, r.result.imageId === info.imageId], [2, true, false]);
  assert.deepEqual(await c.ask({ id: 10, verb: "remove", componentId: ID }), { id: 10, ok: true, result: null });
  assert.deepEqual(await c.ask({ id: 11, verb: "status", componentId: ID }), { id: 11, ok: false, error: { code: "not-installed", message: `no app with ComponentId ${ID} is installed` } });
  c.close();
});

test("a package the core refuses is answered 'refused' with the core's message", async () => {
  const c = await RawClient.connect(served.address);
  assert.deepEqual(await c.ask({ id: 1, verb: "deploy", package: Buffer.from("not a package at all").toString("base64") }), { id: 1, ok: false, error: { code: "refused", message: "image package: package: is 20 bytes; too short to hold a littlefs image, metadata and trailer (truncated?)" } });
  c.close();
});

test("malformed requests: each answered with one line naming the problem, and the connection goes on", async () => {
  const c = await RawClient.connect(served.address);
  c.send("this is not json\n");
  const notJson = (await c.next()) as { id: unknown; ok: boolean; error: { code: string; message: string } };
  assert.deepEqual([notJson.id, notJson.ok, notJson.error.code], [null, false, "bad-request"]);
  assert.match(notJson.error.message, /^malformed request: not JSON \(Unexpected token/);
  c.send("[1,2]\n");
  assert.deepEqual(await c.next(), bad(null, "malformed request: not a JSON object"));
  c.send(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]));
  assert.deepEqual(await c.next(), bad(null, "malformed request: not UTF-8"));
  assert.deepEqual(await c.ask({ verb: "hello" }), bad(null, "id: undefined is not a request id (an integer from 0 to 2^53-1, or a string of 1 to 64 characters)"));
  assert.deepEqual(await c.ask({ id: -1, verb: "hello" }), bad(null, "id: -1 is not a request id (an integer from 0 to 2^53-1, or a string of 1 to 64 characters)"));
  assert.deepEqual(await c.ask({ id: 1, verb: "reboot" }), bad(1, 'verb: "reboot" is not a verb (hello, listInstalled, deploy, remove, start, stop, status, quota, memoryStats)'));
  assert.deepEqual(await c.ask({ id: 2, verb: "status" }), bad(2, "status: componentId is missing"));
  assert.deepEqual(await c.ask({ id: 3, verb: "status", componentId: "blink" }), bad(3, 'componentId: "blink" is not a ComponentId (a GUID: 8-4-4-4-12 hex digits)'));
  assert.deepEqual(await c.ask({ id: 4, verb: "status", componentId: 7 }), bad(4, "componentId: 7 is not a ComponentId (a GUID: 8-4-4-4-12 hex digits)"));
  assert.deepEqual(await c.ask({ id: 5, verb: "status", componentId: "\u001b[2J" + ID }), bad(5, `componentId: "\\u001b[2J${ID}" is not a ComponentId (a GUID: 8-4-4-4-12 hex digits)`));
  assert.deepEqual(await c.ask({ id: 6, verb: "listInstalled", componentId: ID }), bad(6, '"componentId": not a field of listInstalled'));
  assert.deepEqual(await c.ask({ id: 7, verb: "deploy", package: 12 }), bad(7, "package: not a string (the image package as base64)"));
  assert.deepEqual(await c.ask({ id: 8, verb: "deploy", package: "ab$d" }), bad(8, "package: not base64 (RFC 4648 alphabet, padded, no line breaks)"));
  assert.deepEqual(await c.ask({ id: 9, verb: "deploy", package: "abc" }), bad(9, "package: not base64 (RFC 4648 alphabet, padded, no line breaks)"));
  assert.deepEqual(await c.ask({ id: 10, verb: "deploy", package: "" }), bad(10, "package: empty"));
  // Blank lines and CRLF line ends are allowed.
  c.send("\r\n\n" + JSON.stringify({ id: 11, verb: "hello" }) + "\r\n");
  assert.equal(((await c.next()) as { id: number }).id, 11);
  c.close();
});

test("deploy bounds: a package of the apps partition's size reaches the core, one byte more is refused unread", async () => {
  const c = await RawClient.connect(served.address);
  const atBound = Buffer.alloc(APPS_PARTITION_BYTES, 0x5a).toString("base64");
  const r = (await c.ask({ id: 1, verb: "deploy", package: atBound })) as { error: { code: string; message: string } };
  assert.deepEqual([r.error.code, r.error.message], ["refused", "image package: trailer: bad magic (not an image package, or truncated)"]);
  const over = Buffer.alloc(APPS_PARTITION_BYTES + 1, 0x5a).toString("base64");
  const calls = control.calls.length;
  assert.deepEqual(await c.ask({ id: 2, verb: "deploy", package: over }), bad(2, "package: 1044481 bytes; this device takes at most 1044480 (its apps partition, and the format's limit)"));
  assert.equal(control.calls.length, calls, "the device never saw it");
  c.close();
});

test("a request line over the bound is answered once and the connection closed; other clients go on", async () => {
  const c = await RawClient.connect(served.address);
  c.send(Buffer.alloc(MAX_REQUEST + 1, 0x20));
  assert.deepEqual(await c.next(), bad(null, `request exceeds ${MAX_REQUEST} bytes (a package of at most 1044480 bytes as base64, plus 1024)`));
  await c.closed;
  const d = await RawClient.connect(served.address);
  assert.deepEqual(await d.ask({ id: 1, verb: "listInstalled" }), { id: 1, ok: true, result: [] });
  d.close();
});
