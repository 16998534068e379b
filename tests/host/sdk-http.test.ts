// The SDK's HTTP/1.1 client (sdk/http.ts), compiled as AssemblyScript and run here, against Node's
// own HTTP implementation: Node's server parses the requests it encodes, and the responses Node's
// server really sends (Content-Length, chunked with trailers, interim 100, 204, close-delimited
// from a raw socket) are parsed fed whole and in pieces of 1, 3 and 7 bytes, each compared with
// what Node's client read from the same bytes. Then the refusals RFC 9112 asks for, bounds, and
// the exchange's deadline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingMessage } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildApp } from "../../host/apps/build.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const EPROTO = -71, EMSGSIZE = -90, ETIMEDOUT = -110;

interface Harness {
  memory: WebAssembly.Memory;
  inputPtr(): number; outputPtr(): number;
  begin(max: number): void; feed(len: number): number; finish(): number; status(): number; body(): number; headers(): number;
  encode(partsLen: number, bodyLen: number): number;
  exchange(len: number, step: number, stallMs: number, timeoutMs: number, maxBody: number): number;
}

const harness: Promise<Harness> = (async () => {
  const wasm = await buildApp(join(root, "tests/apps/http-harness/main.ts"), (p) => { try { return readFileSync(p, "utf8"); } catch { return null; } });
  const applibs = new Proxy({}, { get: () => () => 0 });
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>), { applibs } as WebAssembly.Imports);
  return instance.exports as unknown as Harness;
})();

const put = (h: Harness, bytes: Uint8Array, at = 0) => new Uint8Array(h.memory.buffer, h.inputPtr() + at, bytes.length).set(bytes);
const out = (h: Harness, n: number) => new Uint8Array(h.memory.buffer, h.outputPtr(), n).slice();
const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

interface Parsed { rc: number; status: number; body: string; headers: string }

/** Parses `raw` fed in pieces of `piece` bytes (0: whole), then finish() if the response did not end itself. */
function parse(h: Harness, raw: Uint8Array, piece = 0, maxBody = 1 << 20): Parsed {
  h.begin(maxBody);
  let rc = 0;
  const step = piece || raw.length || 1;
  for (let at = 0; at < raw.length && rc === 0; at += step) {
    const part = raw.subarray(at, at + step);
    put(h, part);
    rc = h.feed(part.length);
  }
  if (rc === 0) rc = h.finish();
  if (rc < 0) return { rc, status: 0, body: "", headers: "" };
  return { rc, status: h.status(), body: text(out(h, h.body())), headers: text(out(h, h.headers())) };
}

/** The request's bytes as the SDK encodes it, or null when it refuses. */
function encode(h: Harness, method: string, host: string, path: string, contentType: string, headers: string[], body: string | null): Uint8Array | null {
  const parts = new TextEncoder().encode([method, host, path, contentType, ...headers].join("\n"));
  put(h, parts);
  if (body !== null) put(h, new TextEncoder().encode(body), parts.length + 1);
  const n = h.encode(parts.length, body === null ? -1 : Buffer.byteLength(body));
  return n < 0 ? null : out(h, n);
}

/** Sends `req` over a raw socket to `port` and collects every byte of the response until the server closes. */
function rawExchange(port: number, req: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(port, "127.0.0.1", () => s.write(req));
    s.on("data", (d) => chunks.push(d));
    s.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    s.on("error", reject);
  });
}

/** The same response as Node's client reads it. */
function nodeGet(port: number, path: string): Promise<{ status: number; body: string; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const r = httpRequest({ host: "127.0.0.1", port, path, headers: { connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ status: res.statusCode!, body, res }));
    });
    r.on("error", reject);
    r.end();
  });
}

test("Node's server reads the requests the SDK encodes: method, path, Host, headers, Content-Type and body", async () => {
  const h = await harness;
  const seen: { method?: string; url?: string; headers?: Record<string, unknown>; body?: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => { body += d; });
    req.on("end", () => { seen.push({ method: req.method, url: req.url, headers: req.headers, body }); res.end("ok"); });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  try {
    const get = encode(h, "GET", `127.0.0.1:${port}`, "/readings?since=10&unit=c", "", ["X-Device", "thermo-1"], null)!;
    assert.equal(parse(h, await rawExchange(port, get)).body, "ok");
    const post = encode(h, "POST", `127.0.0.1:${port}`, "/readings", "application/json", [], '{"t":21.5,"unit":"°C"}')!;
    assert.equal(parse(h, await rawExchange(port, post)).status, 200);
    assert.equal(seen[0].method, "GET");
    assert.equal(seen[0].url, "/readings?since=10&unit=c");
    assert.equal(seen[0].headers!.host, `127.0.0.1:${port}`);
    assert.equal(seen[0].headers!["x-device"], "thermo-1");
    assert.equal(seen[0].headers!.connection, "close");
    assert.equal(seen[0].headers!["content-length"], undefined, "a GET without a body says no length");
    assert.equal(seen[1].method, "POST");
    assert.equal(seen[1].headers!["content-type"], "application/json");
    assert.equal(seen[1].headers!["content-length"], String(Buffer.byteLength('{"t":21.5,"unit":"°C"}')));
    assert.equal(seen[1].body, '{"t":21.5,"unit":"°C"}');
  } finally {
    server.close();
  }
});

test("the SDK refuses a request that could inject or break the message, before a byte is sent", async () => {
  const h = await harness;
  assert.equal(encode(h, "GET", "example.test", "/a\r\nX-Evil: 1", "", [], null), null, "CRLF in the path");
  assert.equal(encode(h, "GET", "example.test", "/a b", "", [], null), null, "a space in the path");
  assert.equal(encode(h, "GET", "example.test", "a", "", [], null), null, "a path not from the root");
  assert.equal(encode(h, "GET", "exa mple.test", "/", "", [], null), null, "a space in the host");
  assert.equal(encode(h, "GET", "example.test\r\nX: y", "/", "", [], null), null, "CRLF in the host");
  assert.equal(encode(h, "GET", "example.test", "/", "", ["X-A", "v\r\nX-B: w"], null), null, "CRLF in a header value");
  assert.equal(encode(h, "GET", "example.test", "/", "", ["X A", "v"], null), null, "a space in a header name");
  assert.equal(encode(h, "GET", "example.test", "/", "", ["Content-Length", "5"], null), null, "a length of the caller's");
  assert.equal(encode(h, "GET", "example.test", "/", "", ["Transfer-Encoding", "chunked"], null), null);
  assert.equal(encode(h, "POST", "example.test", "/", "text/plain\r\nX: 1", [], "x"), null, "CRLF in the content type");
  assert.equal(encode(h, "DELETE", "example.test", "/", "", [], null), null, "GET and POST only");
  assert.equal(text(encode(h, "GET", "[::1]:8080", "/", "", [], null)!), "GET / HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: wasphere-sdk/0.1\r\nConnection: close\r\n\r\n");
});

test("responses Node's server sends parse as Node's client reads them, fed whole and in pieces of 1, 3 and 7 bytes", async () => {
  const h = await harness;
  const big = "0123456789abcdef".repeat(4096); // 64 KiB
  const server = createServer((req, res) => {
    if (req.url === "/length") { res.setHeader("Content-Length", 11); res.end("hello world"); return; }
    if (req.url === "/chunked") { res.write("first,"); res.write(""); res.write(big); res.end("last"); return; }
    if (req.url === "/trailers") {
      res.writeHead(200, { "Transfer-Encoding": "chunked", Trailer: "X-Checksum" });
      res.write("abc"); res.addTrailers({ "X-Checksum": "900150983cd24fb0" }); res.end(); return;
    }
    if (req.url === "/continue") { res.writeContinue(); res.writeHead(201, { "Content-Length": 2 }); res.end("ok"); return; }
    if (req.url === "/empty") { res.statusCode = 204; res.end(); return; }
    res.statusCode = 404; res.end("no such thing");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  try {
    for (const path of ["/length", "/chunked", "/trailers", "/continue", "/empty", "/missing"]) {
      const raw = await rawExchange(port, encode(h, "GET", `127.0.0.1:${port}`, path, "", [], null)!);
      const node = await nodeGet(port, path);
      for (const piece of [0, 1, 3, 7]) {
        if (piece === 1 && raw.length > 4096) continue; // one byte a call over 64 KiB is slow, not different
        const p = parse(h, raw, piece);
        assert.equal(p.rc, 1, `${path} in pieces of ${piece}`);
        assert.equal(p.status, node.status, `${path} status`);
        assert.equal(p.body, node.body, `${path} body in pieces of ${piece}`);
        for (const [name, value] of Object.entries(node.res.headers)) {
          // Date is the server's clock at each of two separate requests: they differ across a second.
          if (name === "date") { assert.match(p.headers, /^date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/m, `${path}: header date`); continue; }
          if (typeof value === "string") assert.ok(p.headers.includes(`${name}: ${value}\n`), `${path}: header ${name}`);
        }
      }
    }
  } finally {
    server.close();
  }
});

test("a close-delimited body (no length, no chunking) ends with the connection; a truncated one is EPROTO", async () => {
  const h = await harness;
  const server = createNetServer((s) => s.once("data", () => s.end("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const raw = await rawExchange((server.address() as AddressInfo).port, encode(h, "GET", "x", "/", "", [], null)!);
    assert.deepEqual(parse(h, raw, 3), { rc: 1, status: 200, body: "until the end", headers: "content-type: text/plain\n" });
  } finally {
    server.close();
  }
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(parse(h, enc("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")).rc, EPROTO, "closed before Content-Length bytes");
  assert.equal(parse(h, enc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc")).rc, EPROTO, "closed inside a chunk");
  assert.equal(parse(h, enc("HTTP/1.1 200 OK\r\nContent-Le")).rc, EPROTO, "closed inside the headers");
});

test("what RFC 9112 says to reject is EPROTO; what is too big is EMSGSIZE; Transfer-Encoding beats Content-Length", async () => {
  const h = await harness;
  const enc = (s: string) => new TextEncoder().encode(s);
  const rc = (s: string, max = 1 << 20) => parse(h, enc(s), 0, max).rc;
  assert.equal(rc("HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"), EPROTO, "whitespace before the colon");
  assert.equal(rc("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\nok"), EPROTO, "obsolete line folding");
  assert.equal(rc("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"), EPROTO, "differing lengths");
  assert.equal(rc("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"), 1, "the same length twice is one length");
  assert.equal(rc("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), EPROTO);
  assert.equal(rc("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n"), EPROTO);
  assert.equal(rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), EPROTO, "a chunk size that is not hex");
  assert.equal(rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000000\r\n"), EPROTO, "a chunk size past 32 bits");
  assert.equal(rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"), EPROTO, "chunk data longer than its size");
  assert.equal(rc("HTTP/2 200 OK\r\n\r\n"), EPROTO);
  assert.equal(rc("HTTP/1.1 20 OK\r\n\r\n"), EPROTO);
  assert.equal(rc("HTTP/1.1 200OK\r\n\r\n"), EPROTO);
  assert.equal(rc("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"), EPROTO, "no upgrade was asked for");
  assert.equal(rc("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 10), EMSGSIZE, "a declared length past the bound");
  assert.equal(rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n", 10), EMSGSIZE, "chunks past the bound");
  assert.equal(rc("HTTP/1.1 200 OK\r\n\r\n" + "x".repeat(11), 10), EMSGSIZE, "a close-delimited body past the bound");
  assert.equal(rc("HTTP/1.1 200 OK\r\nX: " + "a".repeat(9000) + "\r\n\r\n"), EMSGSIZE, "a line past HTTP_MAX_LINE_BYTES");
  assert.equal(rc("HTTP/1.1 200 OK\r\n" + "X: 1\r\n".repeat(65) + "\r\n"), EMSGSIZE, "more than HTTP_MAX_HEADERS fields");
  const smuggle = parse(h, enc("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
  assert.deepEqual([smuggle.rc, smuggle.body], [1, "hello"]);
  const lf = parse(h, enc("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"));
  assert.deepEqual([lf.rc, lf.body], [1, "ok"], "bare LF line ends");
  const ext = parse(h, enc("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2;name=value\r\nok\r\n0\r\nX-T: 1\r\n\r\n"));
  assert.deepEqual([ext.rc, ext.body], [1, "ok"], "chunk extensions and trailers are read and dropped");
});

test("the exchange: partial writes, reads that would block, and a deadline that ends it with ETIMEDOUT", async () => {
  const h = await harness;
  const response = new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  put(h, response);
  assert.equal(h.exchange(response.length, 3, 0, 1000, 100), 0);
  assert.equal(h.status(), 200);
  assert.equal(text(out(h, h.body())), "hello");
  assert.equal(h.exchange(response.length, 4, 10, 1000, 100), 0, "EAGAIN before each read, 10 ms each: done well within 1 s");
  assert.equal(h.exchange(response.length, 4, 10, 50, 100), ETIMEDOUT, "the same stream with 50 ms for the whole exchange");
  assert.equal(h.exchange(response.length, 1000, 0, 1000, 4), EMSGSIZE);
});
