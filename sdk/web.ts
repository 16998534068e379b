// web: HTTP/1.1 GET and POST for apps over a device socket (http.ts's client on net's sockets).
//
// `httpGet("http://host:port/path", timeoutMs)` and `httpPost(url, body, contentType, timeoutMs)`
// connect to the URL's host (which the manifest's AllowedConnections must list, as written: a
// name is not the address it resolves to), send one request and read the response with http.ts
// (Content-Length, chunked or close-delimited bodies, a deadline on the whole exchange). Only
// http:// URLs: this SDK has no TLS (an https:// URL is EINVAL with nothing sent).
// Memory: the request, the response (its body unless it streams to a sink) and a 1 KiB read
// buffer; the socket is closed on return.
// Must not: leave a socket open, or wait past the deadline.
import { net, close, clockMs } from "./applibs";
import { HttpStream, HttpRequest, HttpResult, HttpBodySink, httpExchange, HTTP_EINVAL, HTTP_ETIMEDOUT } from "./http";

/** A connected TCP socket as http.ts's stream. */
export class SocketStream extends HttpStream {
  constructor(public handle: i32) { super(); }
  read(buf: Uint8Array): i32 { return net.recvBytes(this.handle, buf); }
  write(buf: Uint8Array): i32 { return net.sendBytes(this.handle, buf); }
  waitReady(forWrite: bool, timeoutMs: i32): i32 {
    const rc = net.waitReady(this.handle, timeoutMs);
    return rc == -110 ? HTTP_ETIMEDOUT : rc < 0 ? rc : 0;
  }
  nowMs(): i64 { return <i64>clockMs(); }
}

/** An http:// URL's parts; `error` is EINVAL when it is not one this client can fetch. */
export class Url {
  error: i32 = 0;
  host: string = "";
  port: i32 = 80;
  path: string = "/";
}

export function parseUrl(url: string): Url {
  const out = new Url();
  if (!url.startsWith("http://")) { out.error = HTTP_EINVAL; return out; }
  const rest = url.substring(7);
  let slash = rest.indexOf("/");
  if (slash < 0) slash = rest.length;
  let authority = rest.substring(0, slash);
  out.path = slash < rest.length ? rest.substring(slash) : "/";
  if (authority.indexOf("@") >= 0) { out.error = HTTP_EINVAL; return out; }
  // "[v6]:port", "host:port", "host".
  let colon = authority.lastIndexOf(":");
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) { out.error = HTTP_EINVAL; return out; }
    colon = close + 1 < authority.length && authority.charCodeAt(close + 1) == 0x3a ? close + 1 : -1;
  }
  if (colon >= 0) {
    const portText = authority.substring(colon + 1);
    let port = 0;
    if (portText.length == 0 || portText.length > 5) { out.error = HTTP_EINVAL; return out; }
    for (let i = 0; i < portText.length; i++) {
      const c = portText.charCodeAt(i);
      if (c < 0x30 || c > 0x39) { out.error = HTTP_EINVAL; return out; }
      port = port * 10 + (c - 0x30);
    }
    if (port < 1 || port > 65535) { out.error = HTTP_EINVAL; return out; }
    out.port = port;
    authority = authority.substring(0, colon);
  }
  if (authority.length == 0) { out.error = HTTP_EINVAL; return out; }
  out.host = authority;
  return out;
}

/** Sends `req` to `url` and reads the response within `timeoutMs`: http.ts's result (the socket's -errno, -EACCES for a host not allowed). */
export function httpRequest(url: string, req: HttpRequest, timeoutMs: i32, maxBodyBytes: i32 = 65536, sink: HttpBodySink | null = null): HttpResult {
  const u = parseUrl(url);
  if (u.error != 0) return new HttpResult(u.error, null);
  const target = u.host.startsWith("[") ? u.host.substring(1, u.host.length - 1) : u.host;
  const h = net.connect(target, u.port);
  if (h < 0) return new HttpResult(h, null);
  req.host = u.port == 80 ? u.host : u.host + ":" + u.port.toString();
  req.path = u.path;
  const result = httpExchange(new SocketStream(h), req, timeoutMs, maxBodyBytes, sink);
  close(h);
  return result;
}

/** GET `url`; with a `sink` (http.ts HttpBodySink) the body streams to it as it arrives instead of being kept. */
export function httpGet(url: string, timeoutMs: i32, maxBodyBytes: i32 = 65536, sink: HttpBodySink | null = null): HttpResult {
  const req = new HttpRequest();
  req.method = "GET";
  return httpRequest(url, req, timeoutMs, maxBodyBytes, sink);
}

export function httpPost(url: string, body: string, contentType: string, timeoutMs: i32, maxBodyBytes: i32 = 65536): HttpResult {
  const req = new HttpRequest();
  req.method = "POST";
  req.contentType = contentType;
  req.body = Uint8Array.wrap(String.UTF8.encode(body));
  return httpRequest(url, req, timeoutMs, maxBodyBytes);
}
