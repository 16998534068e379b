// update-agent: the system app that takes a device's updates from its update feed (SPEC.md,
// "Update agent"). It polls the feed's feed.json over HTTP, reads the envelope and the manifest
// with a strict JSON reader (json.ts), and has the core verify the manifest's signature and
// Sequence (update.feedVerify: the core decides, through the security processor; this app never
// judges trust). For each app component newer than the installed version it downloads the
// package the entry names and streams it to the core (update.begin/write/commit), which checks
// its length and SHA-256 against the entry, its ComponentId, version and signature, and replaces
// the app atomically; the host then starts the new version. Every refusal is one line in this
// app's log with the core's reason, logged once per feed Sequence and package, and changes
// nothing. Only apps installed on the device are updated: a feed serves many devices, each with
// its own apps, so a component not installed here is skipped. An entry of ImageType 1 is a core
// image, staged (once per feed Sequence) into the other OS slot when newer than the running OS.
// CmdArgs: the feed.json URL (http://), the poll period in seconds. AllowedConnections: the feed's
// host only (host/net/system-apps.ts composes both from the device's configuration).
// Memory: the feed (at most FEED_MAX_BYTES and its tree) and a 2 KiB piece of the download: a
// package streams from the socket to the core, so its size is not bounded by this app's quota.
// Must not: stage anything before the core accepted the feed, or retry a refused package in a loop.
import { log, sleepMs, args, net, close, update, httpGet, HttpResponse, HttpBodySink } from "@wasphere/sdk";
import { JReader, JValue, J_ARRAY, J_NUMBER, J_OBJECT, J_STRING } from "./json";

const FEED_MAX_BYTES: i32 = 65536;
const PKG_MAX_BYTES: i32 = 2097152;
const FEED_TIMEOUT_MS: i32 = 10000;
const DOWNLOAD_TIMEOUT_MS: i32 = 60000;
const IMAGE_TYPE_APPLICATION: i32 = 10;
// A feed entry of this ImageType is a core image (SPEC.md "Core image"), staged into the other OS slot.
const IMAGE_TYPE_CORE: i32 = 1;
// update_installed_version's id for the OS: the version of the primary OS slot's core image.
const OS_ID = new Uint8Array(16);
const ENOENT: i32 = -2;
const EAGAIN: i32 = -11;
// How often a commit the apps' notice or a deferral holds is asked again.
const HELD_RETRY_MS: i32 = 1000;

function hexVal(c: i32): i32 { return c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1; }

/** `n` bytes from lowercase hex `s` (exactly 2n digits), or null. */
function fromHex(s: string, n: i32): Uint8Array | null {
  if (s.length != 2 * n) return null;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const hi = hexVal(s.charCodeAt(2 * i)), lo = hexVal(s.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return null;
    out[i] = <u8>(hi * 16 + lo);
  }
  return out;
}

/** A lowercase GUID's 16 bytes in text order, or null. */
function guidBytes(s: string): Uint8Array | null {
  if (s.length != 36 || s.charCodeAt(8) != 0x2d || s.charCodeAt(13) != 0x2d || s.charCodeAt(18) != 0x2d || s.charCodeAt(23) != 0x2d) return null;
  return fromHex(s.substring(0, 8) + s.substring(9, 13) + s.substring(14, 18) + s.substring(19, 23) + s.substring(24), 16);
}

function b64Val(c: i32): i32 {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c == 0x2b) return 62;
  if (c == 0x2f) return 63;
  return -1;
}

/** Standard padded base64 of exactly 64 bytes (88 characters), or null. */
function signatureBytes(s: string): Uint8Array | null {
  if (s.length != 88 || !s.endsWith("==")) return null;
  const out = new Uint8Array(64);
  let acc: u32 = 0, bits = 0, n = 0;
  for (let i = 0; i < 86; i++) {
    const v = b64Val(s.charCodeAt(i));
    if (v < 0) return null;
    acc = (acc << 6) | <u32>v; bits += 6;
    if (bits >= 8) { bits -= 8; if (n < 64) out[n++] = <u8>(acc >> <u32>bits); acc &= (1 << <u32>bits) - 1; }
  }
  return n == 64 && acc == 0 ? out : null;
}

function str(o: JValue, key: string): string | null {
  const v = o.get(key);
  return v != null && v.kind == J_STRING ? v.str : null;
}
/** A whole number 0..2^31-1 member, or -1. */
function whole(o: JValue, key: string): f64 {
  const v = o.get(key);
  if (v == null || v.kind != J_NUMBER || v.num != Math.floor(v.num) || v.num < 0 || v.num > 4294967295) return -1;
  return v.num;
}

class Entry {
  componentId: string = "";
  id: Uint8Array = new Uint8Array(0);
  name: string = "";
  imageType: i32 = 0;
  version: f64 = 0;
  sizeBytes: f64 = 0;
  sha256: Uint8Array = new Uint8Array(0);
  sha256Text: string = "";
  file: string = "";
}

class Feed {
  error: string = "";
  text: Uint8Array = new Uint8Array(0);
  signature: Uint8Array = new Uint8Array(0);
  keyId: Uint8Array = new Uint8Array(0);
  entries: Array<Entry> = new Array<Entry>();
}

/** feed.json's bytes read as an envelope and a manifest, each field checked; `error` says what is wrong. */
function readFeed(body: Uint8Array): Feed {
  const f = new Feed();
  if (body.length > FEED_MAX_BYTES) { f.error = "feed.json is " + body.length.toString() + " bytes; a feed is at most 65536"; return f; }
  const env = new JReader(String.UTF8.decodeUnsafe(body.dataStart, <usize>body.length));
  const e = env.parse();
  if (e == null || e.kind != J_OBJECT) { f.error = "feed.json is not a JSON object (" + (e == null ? env.error : "another value") + ")"; return f; }
  const text = str(e, "Manifest");
  const sig = e.get("Signature");
  if (text == null || sig == null || sig.kind != J_OBJECT || str(sig, "Algorithm") != "ES256" || str(sig, "Value") == null) {
    f.error = "feed.json is not a feed envelope (Manifest text, Signature { Algorithm \"ES256\", Value })"; return f;
  }
  const s = signatureBytes(str(sig, "Value") as string);
  if (s == null) { f.error = "Signature.Value is not 64 bytes of base64 (ES256: r || s)"; return f; }
  f.signature = s;
  f.text = Uint8Array.wrap(String.UTF8.encode(text));
  const mr = new JReader(text);
  const m = mr.parse();
  if (m == null || m.kind != J_OBJECT) { f.error = "Manifest is not a JSON object (" + (m == null ? mr.error : "another value") + ")"; return f; }
  if (str(m, "Format") != "wasphere-feed/1") { f.error = "Manifest Format is not wasphere-feed/1"; return f; }
  const k = str(m, "KeyId");
  const kb = k != null ? fromHex(k, 16) : null;
  if (kb == null) { f.error = "Manifest KeyId must be 32 hex digits"; return f; }
  f.keyId = kb;
  const list = m.get("Components");
  if (list == null || list.kind != J_ARRAY || list.items.length > 66) { f.error = "Manifest Components must be a list of at most 66"; return f; }
  for (let i = 0; i < list.items.length; i++) {
    const c = list.items[i];
    const at = "Components[" + i.toString() + "]";
    if (c.kind != J_OBJECT) { f.error = at + " is not an object"; return f; }
    const x = new Entry();
    const cid = str(c, "ComponentId"), name = str(c, "Name"), sha = str(c, "Sha256"), file = str(c, "File");
    const idb = cid != null ? guidBytes(cid) : null;
    if (idb == null) { f.error = at + ".ComponentId must be a lowercase GUID"; return f; }
    const shab = sha != null ? fromHex(sha, 32) : null;
    if (shab == null) { f.error = at + ".Sha256 must be 64 lowercase hex digits"; return f; }
    if (name == null || name.length == 0 || name.length > 64) { f.error = at + ".Name must be 1 to 64 characters"; return f; }
    if (file == null || file != "packages/" + (sha as string) + ".imagepackage") { f.error = at + ".File must be packages/<Sha256>.imagepackage"; return f; }
    const t = whole(c, "ImageType"), v = whole(c, "Version"), n = whole(c, "SizeBytes");
    if (t < 0 || v < 0 || n < 0) { f.error = at + ": ImageType, Version and SizeBytes must be 32-bit unsigned numbers"; return f; }
    x.componentId = cid as string; x.id = idb; x.name = name as string; x.imageType = <i32>t; x.version = v; x.sizeBytes = n;
    x.sha256 = shab; x.sha256Text = sha as string; x.file = file as string;
    f.entries.push(x);
  }
  return f;
}

/** `s` with every byte outside printable ASCII as \xNN (feed text is the publisher's, not ours). */
function shown(s: string): string {
  let out = "";
  for (let i = 0; i < s.length && i < 64; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c != 0x5c) out += String.fromCharCode(c);
    else out += "\\x" + (c & 0xff).toString(16).padStart(2, "0");
  }
  return out;
}

let lastLine = "";
/** Logs `line` unless it is the line logged last (a poll that finds the same fault says it once). */
function logOnce(line: string): void {
  if (line == lastLine) return;
  lastLine = line;
  log(line);
}

/** The download's body, passed to the core in pieces of update.WRITE_MAX_BYTES as it arrives. */
class StageSink extends HttpBodySink {
  status: i32 = 0;
  failed: i32 = 0;
  private buf: Uint8Array = new Uint8Array(update.WRITE_MAX_BYTES);
  private held: i32 = 0;
  constructor(private handle: i32) { super(); }
  write(status: i32, data: Uint8Array, at: i32, n: i32): i32 {
    this.status = status;
    if (status != 200) return -71; // not the package: the exchange ends (EPROTO)
    for (let i = 0; i < n; ) {
      let k = update.WRITE_MAX_BYTES - this.held;
      if (k > n - i) k = n - i;
      this.buf.set(data.subarray(at + i, at + i + k), this.held);
      this.held += k;
      i += k;
      if (this.held == update.WRITE_MAX_BYTES && this.flush() < 0) return this.failed;
    }
    return 0;
  }
  /** Passes what is held to the core: 0, or its -errno (kept in `failed`). */
  flush(): i32 {
    if (this.held == 0 || this.failed < 0) return this.failed;
    const w = update.write(this.handle, this.buf, 0, this.held);
    this.held = 0;
    if (w < 0) this.failed = w;
    return w < 0 ? w : 0;
  }
}

/** Downloads and stages entry `x` over the installed `installed`; true when the core applied it. */
function apply(base: string, x: Entry, installed: i32, kind: i32): bool {
  log("update: " + shown(x.name) + " " + x.componentId + ": version " + installed.toString() + " -> " + (<u32>x.version).toString()
    + ", " + (<u32>x.sizeBytes).toString() + " bytes from " + x.file);
  const size = x.sizeBytes > <f64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>x.sizeBytes;
  const h = update.begin(kind, size, x.id, x.sha256);
  if (h < 0) { log(update.lastError()); return false; }
  // The body streams to the core as it arrives; one byte more than declared is let through, so a
  // longer file is refused by the core as such.
  const sink = new StageSink(h);
  const r = httpGet(base + x.file, DOWNLOAD_TIMEOUT_MS, size < PKG_MAX_BYTES ? size + 1 : size, sink);
  if (sink.failed < 0) { log(update.lastError()); close(h); return false; }
  if (r.error == 0 && r.response != null && (r.response as HttpResponse).status != 200) sink.status = (r.response as HttpResponse).status;
  if (sink.status != 0 && sink.status != 200) { log("update: refused: " + x.file + " answered HTTP " + sink.status.toString()); close(h); return false; }
  if (r.error == -90) { log("update: refused: " + x.file + " is longer than the " + size.toString() + " bytes its feed entry declares"); close(h); return false; }
  if (r.error != 0) { log("update: refused: " + x.file + " cannot be fetched (error " + r.error.toString() + ")"); close(h); return false; }
  if (sink.flush() < 0) { log(update.lastError()); close(h); return false; }
  // Held by the apps' notice or a deferral (drivers/sysevent.ts): the staging stays; commit again.
  let entry = update.commit(h);
  if (entry == EAGAIN) log(update.lastError());
  while (entry == EAGAIN) {
    sleepMs(HELD_RETRY_MS);
    entry = update.commit(h);
  }
  close(h);
  if (entry < 0) { log(update.lastError()); return false; }
  if (kind == update.KIND_CORE) log("update: core image version " + (<u32>x.version).toString() + " staged in the other OS slot (PENDING); reboot requested");
  else log("update: " + shown(x.name) + " version " + (<u32>x.version).toString() + " applied (installed-app list entry " + entry.toString() + ")");
  return true;
}

export function main(): i32 {
  const a = args();
  if (a.length != 2 || !a[0].startsWith("http://")) { log("update agent: CmdArgs must be the feed.json URL (http://) and the poll period in seconds"); return 1; }
  const url = a[0];
  const period = I32.parseInt(a[1]);
  if (period < 1) { log("update agent: the poll period must be a whole number of seconds from 1"); return 1; }
  const base = url.substring(0, url.lastIndexOf("/") + 1);
  while (!net.isReady()) sleepMs(200);
  log("update agent: polling " + shown(url) + " every " + period.toString() + " s");
  // Packages refused (and core images staged) under the current feed: not fetched again until the feed changes.
  let refused = new Set<string>();
  let lastSequence = -1;
  while (true) {
    const r = httpGet(url, FEED_TIMEOUT_MS, FEED_MAX_BYTES + 1);
    if (r.error != 0 || r.response == null) logOnce("feed: " + shown(url) + " cannot be fetched (error " + r.error.toString() + ")");
    else if ((r.response as HttpResponse).status != 200) logOnce("feed: " + shown(url) + " answered HTTP " + (r.response as HttpResponse).status.toString());
    else {
      const f = readFeed((r.response as HttpResponse).body);
      if (f.error.length > 0) logOnce("feed: refused: " + f.error);
      else {
        const seq = update.feedVerify(f.text, f.signature, f.keyId);
        if (seq < 0) logOnce(update.lastError());
        else {
          if (seq != lastSequence) {
            logOnce("feed: sequence " + seq.toString() + " verified, " + f.entries.length.toString() + " component" + (f.entries.length == 1 ? "" : "s"));
            lastSequence = seq;
            refused = new Set<string>();
          }
          for (let i = 0; i < f.entries.length; i++) {
            const x = f.entries[i];
            const key = x.componentId + "@" + (<u32>x.version).toString() + ":" + x.sha256Text;
            const core = x.imageType == IMAGE_TYPE_CORE;
            if (refused.has(key) || (!core && x.imageType != IMAGE_TYPE_APPLICATION)) continue;
            const installed = update.installedVersion(core ? OS_ID : x.id);
            if (installed == ENOENT || (installed >= 0 && x.version == <f64>installed)) continue;
            if (installed >= 0 && x.version < <f64>installed) {
              log("update: " + shown(x.name) + " " + x.componentId + ": the feed's version " + (<u32>x.version).toString() + " is older than the installed " + installed.toString() + "; kept");
              refused.add(key);
              continue;
            }
            if (installed < 0) { log("update: " + x.componentId + ": the installed version cannot be read (error " + installed.toString() + ")"); refused.add(key); continue; }
            // A staged core image runs only after the reboot: it is not staged again under this feed.
            if (!apply(base, x, installed, core ? update.KIND_CORE : update.KIND_APP) || core) refused.add(key);
            lastLine = "";
          }
        }
      }
    }
    sleepMs(period * 1000);
  }
}
