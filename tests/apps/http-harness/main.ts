// A test harness around @wasphere/sdk/http for tests/host/sdk-http.test: the host copies bytes
// into `input` and calls these exports; results come back through `output`. Not an app: it
// exports no entry and is never installed.
import { HttpRequest, HttpResponseParser, HttpStream, encodeRequest, httpExchange, HTTP_EAGAIN, HTTP_ETIMEDOUT } from "@wasphere/sdk/http";

const INPUT_BYTES = 1 << 20;
const input = memory.data(INPUT_BYTES);
const output = memory.data(INPUT_BYTES);
let parser: HttpResponseParser | null = null;
let outputLen = 0;

export function inputPtr(): usize { return input; }
export function outputPtr(): usize { return output; }
export function outputBytes(): i32 { return outputLen; }

function put(bytes: Uint8Array): i32 {
  const n = bytes.length < INPUT_BYTES ? bytes.length : INPUT_BYTES;
  memory.copy(output, bytes.dataStart, n);
  outputLen = n;
  return n;
}

function inputBytes(len: i32): Uint8Array {
  const b = new Uint8Array(len);
  memory.copy(b.dataStart, input, len);
  return b;
}

export function begin(maxBodyBytes: i32): void { parser = new HttpResponseParser(maxBodyBytes); }
/** Feeds the first len bytes of input. */
export function feed(len: i32): i32 { return parser!.feed(inputBytes(len), len); }
export function finish(): i32 { return parser!.finish(); }
export function status(): i32 { return parser!.response.status; }
/** The body into output; its length. */
export function body(): i32 { return put(parser!.response.body); }
/** "name: value\n" for each header, into output; the length. */
export function headers(): i32 {
  const h = parser!.response.headers;
  let text = "";
  for (let i = 0; i + 1 < h.length; i += 2) text += h[i] + ": " + h[i + 1] + "\n";
  return put(Uint8Array.wrap(String.UTF8.encode(text)));
}

/**
 * Encodes a request whose parts are in input as "method\nhost\npath\ncontentType\nname\nvalue\n...",
 * with a body of bodyLen bytes after a NUL: its bytes into output and their length, or -1.
 */
export function encode(partsLen: i32, bodyLen: i32): i32 {
  const text = String.UTF8.decode(inputBytes(partsLen).buffer);
  const parts = text.split("\n");
  const req = new HttpRequest();
  req.method = parts[0];
  req.host = parts[1];
  req.path = parts[2];
  req.contentType = parts[3];
  for (let i = 4; i + 1 < parts.length; i += 2) { req.headers.push(parts[i]); req.headers.push(parts[i + 1]); }
  if (bodyLen >= 0) {
    const b = new Uint8Array(bodyLen);
    memory.copy(b.dataStart, input + partsLen + 1, bodyLen);
    req.body = b;
  }
  const out = encodeRequest(req);
  return out === null ? -1 : put(out);
}

/**
 * A stream over input: the response is the first len bytes, handed out `step` bytes a read, with
 * EAGAIN between reads when `stallMs` > 0 (each wait advances a virtual clock by it); writes
 * accept up to `step` bytes at a time. For httpExchange's deadlines and partial writes.
 */
class ScriptedStream extends HttpStream {
  at: i32 = 0;
  clock: i64 = 0;
  stalled: bool = false;
  written: i32 = 0;
  constructor(public len: i32, public step: i32, public stallMs: i32) { super(); }
  read(buf: Uint8Array): i32 {
    if (this.stallMs > 0 && !this.stalled) { this.stalled = true; return HTTP_EAGAIN; }
    this.stalled = false;
    if (this.at >= this.len) return 0;
    let n = this.len - this.at;
    if (n > this.step) n = this.step;
    if (n > buf.length) n = buf.length;
    memory.copy(buf.dataStart, input + this.at, n);
    this.at += n;
    return n;
  }
  write(buf: Uint8Array): i32 {
    const n = buf.length < this.step ? buf.length : this.step;
    this.written += n;
    return n;
  }
  waitReady(forWrite: bool, timeoutMs: i32): i32 {
    // Like a poll that reports ready at once when asked to wait no time: the client must keep its own deadline.
    if (timeoutMs <= 0) return 0;
    if (this.stallMs > timeoutMs) { this.clock += timeoutMs; return HTTP_ETIMEDOUT; }
    this.clock += this.stallMs;
    return 0;
  }
  nowMs(): i64 { return this.clock; }
}

/** GET / over a ScriptedStream: 0 with the response's status in output's first 4 bytes, or -errno. */
export function exchange(len: i32, step: i32, stallMs: i32, timeoutMs: i32, maxBodyBytes: i32): i32 {
  const s = new ScriptedStream(len, step, stallMs);
  const req = new HttpRequest();
  req.host = "example.test";
  const r = httpExchange(s, req, timeoutMs, maxBodyBytes);
  if (r.error < 0) return r.error;
  parser = new HttpResponseParser(maxBodyBytes);
  parser!.response = r.response!;
  return 0;
}
