// http: a small HTTP/1.1 client for apps: GET and POST, responses with a Content-Length,
// chunked or close-delimited body, interim 1xx responses skipped, a deadline on the whole
// exchange, over any byte stream (a socket of the device, or a test's buffer).
//
// It follows RFC 9112's message syntax strictly where leniency would let a peer confuse it: a
// header name with whitespace before its colon, a folded header line, differing Content-Length
// values, a chunk size that is not hex or does not fit 32 bits, a status line that is not
// "HTTP/1.x NNN": each fails the exchange with EPROTO. A bare LF is taken as a line end (the RFC
// allows a recipient to). Requests always say `Connection: close`: one exchange per connection.
// Request text is checked before anything is sent: a method, host, path, header name or value
// holding a CR, LF or other control character is EINVAL (no header injection).
// Bounds: a line at most HTTP_MAX_LINE_BYTES, at most HTTP_MAX_HEADERS header fields, a body at
// most the caller's maxBodyBytes (EMSGSIZE beyond). Memory: the response's headers and body, a
// line buffer, and the caller's read buffer.
// Must not: block without a deadline, or return a partial body as a success.

export const HTTP_EAGAIN: i32 = -11;
export const HTTP_EINVAL: i32 = -22;
export const HTTP_EPROTO: i32 = -71;
export const HTTP_EMSGSIZE: i32 = -90;
export const HTTP_ETIMEDOUT: i32 = -110;

export const HTTP_MAX_LINE_BYTES: i32 = 8192;
export const HTTP_MAX_HEADERS: i32 = 64;

/** What the client reads from and writes to. */
export abstract class HttpStream {
  /** Up to buf.length bytes into buf: how many, 0 at the end of the stream, HTTP_EAGAIN when none yet, or another -errno. */
  abstract read(buf: Uint8Array): i32;
  /** Writes from buf: how many were taken (perhaps fewer), HTTP_EAGAIN when none now, or another -errno. */
  abstract write(buf: Uint8Array): i32;
  /** Waits until the stream is readable (writable when forWrite) or timeoutMs pass: 0, HTTP_ETIMEDOUT or -errno. */
  abstract waitReady(forWrite: bool, timeoutMs: i32): i32;
  /** Milliseconds on a monotonic clock. */
  abstract nowMs(): i64;
}

export class HttpRequest {
  method: string = "GET";
  host: string = "";
  path: string = "/";
  /** Extra header fields, as name and value pairs: [name0, value0, name1, value1, ...]. */
  headers: Array<string> = new Array<string>();
  body: Uint8Array | null = null;
  contentType: string = "";
}

export class HttpResponse {
  status: i32 = 0;
  reason: string = "";
  /** Header fields as received, names lowercased: [name0, value0, ...]. */
  headers: Array<string> = new Array<string>();
  body: Uint8Array = new Uint8Array(0);

  /** The value of header `name` (any case), or null; repeated fields are joined with ", ". */
  header(name: string): string | null {
    const want = name.toLowerCase();
    let out: string | null = null;
    for (let i = 0; i + 1 < this.headers.length; i += 2) {
      if (this.headers[i] != want) continue;
      out = out === null ? this.headers[i + 1] : (out as string) + ", " + this.headers[i + 1];
    }
    return out;
  }

  bodyText(): string { return String.UTF8.decode(this.body.buffer.slice(this.body.byteOffset, this.body.byteOffset + this.body.byteLength)); }
}

/** An exchange's outcome: `error` 0 and the response, or a negative errno and no response. */
export class HttpResult {
  constructor(public error: i32, public response: HttpResponse | null) {}
}

/** true when `s` holds no control character (CR and LF included) and no DEL. */
function printableText(s: string, allowSpace: bool): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x7f) return false;
    if (!allowSpace && c == 0x20) return false;
  }
  return true;
}

function isTokenChar(c: i32): bool {
  if (c >= 0x30 && c <= 0x39) return true;
  if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) return true;
  return c == 0x21 || c == 0x23 || c == 0x24 || c == 0x25 || c == 0x26 || c == 0x27 || c == 0x2a || c == 0x2b
    || c == 0x2d || c == 0x2e || c == 0x5e || c == 0x5f || c == 0x60 || c == 0x7c || c == 0x7e;
}

function isToken(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

/** The request's bytes, or null when a part of it could inject or break the message (EINVAL). */
export function encodeRequest(req: HttpRequest): Uint8Array | null {
  if (req.method != "GET" && req.method != "POST") return null;
  if (!isToken(req.host.replaceAll(":", "").replaceAll("[", "").replaceAll("]", ""))) return null;
  if (req.path.length == 0 || req.path.charCodeAt(0) != 0x2f || !printableText(req.path, false)) return null;
  if (req.headers.length % 2 != 0 || !printableText(req.contentType, true)) return null;
  let head = req.method + " " + req.path + " HTTP/1.1\r\nHost: " + req.host + "\r\nUser-Agent: wasphere-sdk/0.1\r\nConnection: close\r\n";
  for (let i = 0; i < req.headers.length; i += 2) {
    const name = req.headers[i];
    const value = req.headers[i + 1];
    if (!isToken(name) || !printableText(value, true)) return null;
    const lower = name.toLowerCase();
    // The client owns these: a caller's copy could contradict the body it sends.
    if (lower == "host" || lower == "content-length" || lower == "transfer-encoding" || lower == "connection") return null;
    head += name + ": " + value + "\r\n";
  }
  const hasBody = req.body !== null;
  const body: Uint8Array = hasBody ? req.body! : new Uint8Array(0);
  if (hasBody || req.method == "POST") {
    if (req.contentType.length > 0) head += "Content-Type: " + req.contentType + "\r\n";
    head += "Content-Length: " + body.length.toString() + "\r\n";
  }
  head += "\r\n";
  const headBytes = Uint8Array.wrap(String.UTF8.encode(head));
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes, 0);
  out.set(body, headBytes.length);
  return out;
}

const S_STATUS: i32 = 0;
const S_HEADERS: i32 = 1;
const S_BODY_LENGTH: i32 = 2;
const S_CHUNK_SIZE: i32 = 3;
const S_CHUNK_DATA: i32 = 4;
const S_CHUNK_END: i32 = 5;
const S_TRAILERS: i32 = 6;
const S_BODY_TO_CLOSE: i32 = 7;
const S_DONE: i32 = 8;

/**
 * Where a response's body goes instead of memory (httpExchange's `sink`): `write` takes the next
 * `n` body bytes of `data` from `at`, with the response's status, and returns 0 or a negative
 * errno that ends the exchange with that error.
 */
export abstract class HttpBodySink {
  abstract write(status: i32, data: Uint8Array, at: i32, n: i32): i32;
}

/** Reads one response from bytes fed in pieces of any size. */
export class HttpResponseParser {
  response: HttpResponse = new HttpResponse();
  private state: i32 = S_STATUS;
  private line: Uint8Array = new Uint8Array(HTTP_MAX_LINE_BYTES);
  private lineLen: i32 = 0;
  private body: Uint8Array;
  private bodyLen: i32 = 0;
  private remaining: i64 = 0;
  private contentLength: i64 = -1;
  private chunked: bool = false;
  /** A Transfer-Encoding whose last coding is not chunked: the body runs to the connection's close. */
  private framedByClose: bool = false;
  private error: i32 = 0;

  /** With a `sink`, the body is passed on as it arrives (counted against maxBodyBytes) and the response's body stays empty. */
  constructor(private maxBodyBytes: i32, private sink: HttpBodySink | null = null) {
    this.body = new Uint8Array(sink != null ? 0 : maxBodyBytes < 4096 ? maxBodyBytes : 4096);
  }

  get done(): bool { return this.state == S_DONE; }

  /** Takes `len` bytes of `data`: 0 while more is needed, 1 once the response is whole, or -errno (for good). */
  feed(data: Uint8Array, len: i32): i32 {
    if (this.error < 0) return this.error;
    let i = 0;
    while (i < len && this.state != S_DONE) {
      const s = this.state;
      if (s == S_BODY_LENGTH || s == S_CHUNK_DATA || s == S_BODY_TO_CLOSE) {
        let n = len - i;
        if (s != S_BODY_TO_CLOSE && <i64>n > this.remaining) n = <i32>this.remaining;
        const rc = this.append(data, i, n);
        if (rc < 0) return this.fail(rc);
        i += n;
        this.remaining -= n;
        if (s == S_BODY_LENGTH && this.remaining == 0) this.complete();
        if (s == S_CHUNK_DATA && this.remaining == 0) this.state = S_CHUNK_END;
        continue;
      }
      const c = data[i++];
      if (c != 0x0a) {
        if (this.lineLen >= HTTP_MAX_LINE_BYTES) return this.fail(HTTP_EMSGSIZE);
        this.line[this.lineLen++] = c;
        continue;
      }
      let end = this.lineLen;
      if (end > 0 && this.line[end - 1] == 0x0d) end--;
      this.lineLen = 0;
      const rc = this.onLine(end);
      if (rc < 0) return this.fail(rc);
    }
    return this.state == S_DONE ? 1 : 0;
  }

  /** The stream ended: 1 when that ends a close-delimited body (or the response was whole), else EPROTO. */
  finish(): i32 {
    if (this.error < 0) return this.error;
    if (this.state == S_BODY_TO_CLOSE) this.complete();
    if (this.state != S_DONE) return this.fail(HTTP_EPROTO); // the peer closed before the response ended
    return 1;
  }

  private fail(rc: i32): i32 { this.error = rc; return rc; }

  private complete(): void {
    this.state = S_DONE;
    this.response.body = this.sink != null ? new Uint8Array(0) : this.body.subarray(0, this.bodyLen);
  }

  /** The body bytes taken so far (with a sink: passed to it). */
  get bodyBytes(): i32 { return this.bodyLen; }

  private append(data: Uint8Array, at: i32, n: i32): i32 {
    if (this.bodyLen + n > this.maxBodyBytes) return HTTP_EMSGSIZE;
    const sink = this.sink;
    if (sink != null) {
      const rc = n > 0 ? sink.write(this.response.status, data, at, n) : 0;
      if (rc < 0) return rc;
      this.bodyLen += n;
      return 0;
    }
    if (this.bodyLen + n > this.body.length) {
      let size = this.body.length * 2;
      if (size < this.bodyLen + n) size = this.bodyLen + n;
      if (size > this.maxBodyBytes) size = this.maxBodyBytes;
      const grown = new Uint8Array(size);
      grown.set(this.body.subarray(0, this.bodyLen), 0);
      this.body = grown;
    }
    this.body.set(data.subarray(at, at + n), this.bodyLen);
    this.bodyLen += n;
    return 0;
  }

  private onLine(end: i32): i32 {
    const s = this.state;
    if (s == S_STATUS) return this.statusLine(end);
    if (s == S_HEADERS) return end == 0 ? this.headersEnd() : this.headerLine(end);
    if (s == S_CHUNK_SIZE) return this.chunkSize(end);
    if (s == S_CHUNK_END) { if (end != 0) return HTTP_EPROTO; this.state = S_CHUNK_SIZE; return 0; }
    if (s == S_TRAILERS) {
      if (end != 0) return 0; // trailer fields are read and dropped
      this.complete();
      return 0;
    }
    return HTTP_EPROTO;
  }

  /** "HTTP/1.x NNN reason" */
  private statusLine(end: i32): i32 {
    const l = this.line;
    if (end < 12 || l[0] != 0x48 || l[1] != 0x54 || l[2] != 0x54 || l[3] != 0x50 || l[4] != 0x2f || l[5] != 0x31 || l[6] != 0x2e) return HTTP_EPROTO;
    if (l[7] < 0x30 || l[7] > 0x39 || l[8] != 0x20 || (end > 12 && l[12] != 0x20)) return HTTP_EPROTO;
    let status = 0;
    for (let i = 9; i < 12; i++) {
      if (l[i] < 0x30 || l[i] > 0x39) return HTTP_EPROTO;
      status = status * 10 + (l[i] - 0x30);
    }
    if (status < 100) return HTTP_EPROTO;
    this.response.status = status;
    this.response.reason = end > 13 ? String.UTF8.decode(l.buffer.slice(13, end)) : "";
    this.response.headers = new Array<string>();
    this.contentLength = -1;
    this.chunked = false;
    this.framedByClose = false;
    this.state = S_HEADERS;
    return 0;
  }

  private headerLine(end: i32): i32 {
    const l = this.line;
    // An obsolete folded line starts with whitespace, which is no token character: refused below.
    let colon = -1;
    for (let i = 0; i < end; i++) {
      if (l[i] == 0x3a) { colon = i; break; }
      if (!isTokenChar(l[i])) return HTTP_EPROTO; // includes whitespace before the colon
    }
    if (colon <= 0) return HTTP_EPROTO;
    if (this.response.headers.length >= 2 * HTTP_MAX_HEADERS) return HTTP_EMSGSIZE;
    let a = colon + 1, b = end;
    while (a < b && (l[a] == 0x20 || l[a] == 0x09)) a++;
    while (b > a && (l[b - 1] == 0x20 || l[b - 1] == 0x09)) b--;
    const name = String.UTF8.decode(l.buffer.slice(0, colon)).toLowerCase();
    const value = String.UTF8.decode(l.buffer.slice(a, b));
    this.response.headers.push(name);
    this.response.headers.push(value);
    if (name == "content-length") {
      const n = parseLength(value);
      if (n < 0 || (this.contentLength >= 0 && this.contentLength != n)) return HTTP_EPROTO;
      this.contentLength = n;
    }
    if (name == "transfer-encoding") {
      // Only the last coding decides how the body is framed.
      const parts = value.split(",");
      this.chunked = parts[parts.length - 1].trim().toLowerCase() == "chunked";
      this.framedByClose = !this.chunked;
    }
    return 0;
  }

  private headersEnd(): i32 {
    const status = this.response.status;
    if (status == 101) return HTTP_EPROTO; // no upgrade was asked for
    if (status < 200) { this.state = S_STATUS; return 0; } // interim: the final response follows
    if (status == 204 || status == 304) { this.complete(); return 0; }
    // A Transfer-Encoding overrides any Content-Length (RFC 9112, 6.3).
    if (this.chunked) { this.state = S_CHUNK_SIZE; return 0; }
    if (this.framedByClose || this.contentLength < 0) { this.state = S_BODY_TO_CLOSE; return 0; }
    if (this.contentLength > <i64>this.maxBodyBytes) return HTTP_EMSGSIZE;
    this.remaining = this.contentLength;
    if (this.remaining == 0) this.complete(); else this.state = S_BODY_LENGTH;
    return 0;
  }

  private chunkSize(end: i32): i32 {
    const l = this.line;
    let size: i64 = 0;
    let digits = 0;
    let i = 0;
    for (; i < end; i++) {
      const c = l[i];
      let v = -1;
      if (c >= 0x30 && c <= 0x39) v = c - 0x30;
      else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) v = (c | 0x20) - 0x61 + 10;
      if (v < 0) break;
      if (++digits > 8) return HTTP_EPROTO;
      size = size * 16 + v;
    }
    if (digits == 0) return HTTP_EPROTO;
    // What may follow the digits: whitespace and chunk extensions, which are read and dropped.
    while (i < end && (l[i] == 0x20 || l[i] == 0x09)) i++;
    if (i < end && l[i] != 0x3b) return HTTP_EPROTO;
    if (size == 0) { this.state = S_TRAILERS; return 0; }
    if (<i64>this.bodyLen + size > <i64>this.maxBodyBytes) return HTTP_EMSGSIZE;
    this.remaining = size;
    this.state = S_CHUNK_DATA;
    return 0;
  }
}

/** A Content-Length value: 1 to 10 digits and nothing else, or -1. */
function parseLength(v: string): i64 {
  if (v.length == 0 || v.length > 10) return -1;
  let n: i64 = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

/**
 * Sends `req` on `stream` and reads the response, all within `timeoutMs`: the response, or
 * EINVAL (a request that could not be sent safely), ETIMEDOUT, EPROTO, EMSGSIZE, the stream's
 * own -errno, or the sink's. With a `sink` the body is streamed to it, not kept.
 */
export function httpExchange(stream: HttpStream, req: HttpRequest, timeoutMs: i32, maxBodyBytes: i32, sink: HttpBodySink | null = null): HttpResult {
  const bytes = encodeRequest(req);
  if (bytes === null || timeoutMs < 0 || maxBodyBytes < 0) return new HttpResult(HTTP_EINVAL, null);
  const deadline = stream.nowMs() + <i64>timeoutMs;
  let sent = 0;
  while (sent < bytes.length) {
    const n = stream.write(bytes.subarray(sent));
    if (n > 0) { sent += n; continue; }
    if (n != HTTP_EAGAIN && n < 0) return new HttpResult(n, null);
    const rc = waitUntil(stream, true, deadline);
    if (rc < 0) return new HttpResult(rc, null);
  }
  const parser = new HttpResponseParser(maxBodyBytes, sink);
  const buf = new Uint8Array(1024);
  while (true) {
    const n = stream.read(buf);
    if (n > 0) {
      const rc = parser.feed(buf, n);
      if (rc < 0) return new HttpResult(rc, null);
      if (rc == 1) return new HttpResult(0, parser.response);
      continue;
    }
    if (n == 0) {
      const rc = parser.finish();
      return rc < 0 ? new HttpResult(rc, null) : new HttpResult(0, parser.response);
    }
    if (n != HTTP_EAGAIN) return new HttpResult(n, null);
    const rc = waitUntil(stream, false, deadline);
    if (rc < 0) return new HttpResult(rc, null);
  }
}

function waitUntil(stream: HttpStream, forWrite: bool, deadline: i64): i32 {
  const left = deadline - stream.nowMs();
  if (left <= 0) return HTTP_ETIMEDOUT;
  return stream.waitReady(forWrite, left > <i64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>left);
}
