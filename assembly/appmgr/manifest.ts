// manifest: the app_manifest.json parser and validator (SPEC.md, "app_manifest.json").
//
// What it is: a single-pass recursive-descent JSON reader over the raw bytes in the I/O buffer,
// specialised to the manifest schema: it knows at every point which field it is in and what
// type it expects, so it needs no tree, no allocation and no general recursion (the deepest
// document it accepts is three levels). Strings are decoded (escapes, \u surrogate pairs) into
// static staging buffers; capabilities are turned into the staging CapSet row. On the first
// problem it stops, returns a negative errno and leaves a sentence in the error message that
// starts with the field's path, e.g. `Capabilities.Gpio[2]: pin 200 does not exist ...`.
// Invariants: nothing outside this file's staging area (and the staging caps row) is written
// until the whole manifest is accepted; every byte read is inside [src, src + len).
// Budget: MANIFEST_STAGING_BYTES static bytes; no heap.
// Must not: allocate, trap on any input, or read past the manifest's length.
import {
  EINVAL, ENODEV, EPERM, APP_NAME_MAX_BYTES, ENTRY_POINT_MAX_BYTES, CMD_ARGS_MAX_BYTES, PRIORITY_LEVELS,
  DEFAULT_PRIORITY, MAX_GPIO_PINS, CPU_BUDGET_MIN_FUEL, CPU_BUDGET_MAX_FUEL, STORAGE_MAX_KIB,
  PERIPH_UART, PERIPH_I2C, PERIPH_SPI, PERIPH_ADC, PERIPH_PWM, CHANNEL_PEERS_MAX,
  NET_ALLOW_MAX_ENTRIES, NET_ALLOW_MAX_BYTES, NET_HOST_MAX_BYTES, NET_SERVER_PORTS_MAX, NET_TCP, NET_UDP,
} from "../abi";
import { netCanonical, NET_CANON_MAX_BYTES } from "../net/allow";
import { boardFind, boardCount, boardFunctions, boardNamePtr, boardNameLen } from "../board/board";
import { msgClear, msgStr, msgInt, msgBytes, msgUserBytes } from "../util/msg";
import { GUID_TEXT_BYTES, guidParse } from "../util/guid";
import {
  CapSet, capsOf, capsClear, capsHasPin, capsAddPin, capsAddInterface, capsInterfaceFunction, capsListsPeer, capsAddPeer, CAPS_STAGING, CAP_BASELINE, CAP_UART, CAP_I2C,
  CAP_SPI, CAP_ADC, CAP_PWM, CAP_NETWORK, CAP_APP_CONNECTIONS, CAP_STORAGE, CAP_NET_SERVER, CAP_NET_ADMIN, CAP_SYSTEM_TIME, CAP_POWER_CONTROLS, CAP_SYSEVENT, CAP_UPDATE_DEFERRAL, CAP_UPDATE, capsServesPort, capsAddPort,
} from "../lsm/caps";

const KIB: i32 = 1024;
const QUOTA_STEP_KIB: i32 = 64;
const KEY_MAX_BYTES: i32 = 64;
const SCRATCH_BYTES: i32 = 64;
const PATH_MAX_BYTES: i32 = 96;

const nameBuf = memory.data(APP_NAME_MAX_BYTES);
const entryBuf = memory.data(ENTRY_POINT_MAX_BYTES);
const argsBuf = memory.data(CMD_ARGS_MAX_BYTES);
const keyBuf = memory.data(KEY_MAX_BYTES);
const scratch = memory.data(SCRATCH_BYTES);
const pathBuf = memory.data(PATH_MAX_BYTES);
// An AllowedConnections entry as written (a name may be longer than the scratch), and the
// canonical forms of the whole list, each after a length byte (net/allow.ts).
const HOST_TEXT_BYTES: i32 = NET_HOST_MAX_BYTES + 3;
const hostText = memory.data(HOST_TEXT_BYTES);
const allowBuf = memory.data(NET_ALLOW_MAX_BYTES + NET_CANON_MAX_BYTES);
export const MANIFEST_STAGING_BYTES: i32 = APP_NAME_MAX_BYTES + ENTRY_POINT_MAX_BYTES + CMD_ARGS_MAX_BYTES + KEY_MAX_BYTES + SCRATCH_BYTES + PATH_MAX_BYTES
  + HOST_TEXT_BYTES + NET_ALLOW_MAX_BYTES + NET_CANON_MAX_BYTES;

// ---- The result (valid after parseManifest returned 0).
let nameLen: i32 = 0;
let entryLen: i32 = 0;
let argsLen: i32 = 0;
let idHi: u64 = 0;
let idLo: u64 = 0;
let quotaBytes: i32 = 0;
let priority: i32 = DEFAULT_PRIORITY;
let cpuBudgetFuel: f64 = 0;
let allowLen: i32 = 0;
// The call's own input: may this manifest hold system capabilities (app_install_system)?
let systemManifest: bool = false;

export function manifestNamePtr(): usize { return nameBuf; }
export function manifestNameLen(): i32 { return nameLen; }
export function manifestEntryPtr(): usize { return entryBuf; }
export function manifestEntryLen(): i32 { return entryLen; }
export function manifestArgsPtr(): usize { return argsBuf; }
export function manifestArgsLen(): i32 { return argsLen; }
export function manifestIdHi(): u64 { return idHi; }
export function manifestIdLo(): u64 { return idLo; }
export function manifestQuotaBytes(): i32 { return quotaBytes; }
export function manifestPriority(): i32 { return priority; }
/** CpuBudget.FuelPerSecond, or 0 when the manifest sets no budget. */
export function manifestCpuBudgetFuel(): f64 { return cpuBudgetFuel; }
export function manifestCaps(): CapSet { return capsOf(CAPS_STAGING); }
/** AllowedConnections' canonical forms, each after its length byte (caps.allowBytes of them). */
export function manifestAllowPtr(): usize { return allowBuf; }
export function manifestAllowLen(): i32 { return allowLen; }

// ---- Reader state.
let src: usize = 0;
let end: usize = 0;
let pos: usize = 0;
let errno: i32 = 0;
let pathLen: i32 = 0;
let strHadNul: bool = false;
/** The string just read decoded to a control character (C0, DEL or C1), escaped or raw. */
let strHadControl: bool = false;
let numStart: usize = 0;
let numEnd: usize = 0;
let numIsInteger: bool = false;
let pinCount: i32 = 0;
let ceilingBytes: i32 = 0;

// Top-level fields, as bits of the seen mask (duplicates and required fields).
const F_SCHEMA: i32 = 1 << 0;
const F_NAME: i32 = 1 << 1;
const F_ID: i32 = 1 << 2;
const F_ENTRY: i32 = 1 << 3;
const F_ARGS: i32 = 1 << 4;
const F_TYPE: i32 = 1 << 5;
const F_CAPS: i32 = 1 << 6;
const F_QUOTA: i32 = 1 << 7;
const F_PRIORITY: i32 = 1 << 8;
const F_CPU_BUDGET: i32 = 1 << 9;

// ---- Errors.

/** Starts the error message with the current path (or "manifest") and records the errno. */
function failAt(code: i32): void {
  errno = code;
  msgClear();
  if (pathLen == 0) msgStr("manifest");
  else msgBytes(pathBuf, pathLen);
  msgStr(": ");
}

function syntaxError(expected: string): void {
  failAt(EINVAL);
  msgStr("invalid JSON at byte ");
  msgInt(<i64>(pos - src));
  if (pos >= end) msgStr(" (the end of the file)");
  msgStr(": expected ");
  msgStr(expected);
}

function typeError(expected: string): void {
  failAt(EINVAL);
  msgStr("expected ");
  msgStr(expected);
}

// ---- Path of the field being parsed, for messages.

function pathAppend(b: i32): void {
  if (pathLen < PATH_MAX_BYTES) { store<u8>(pathBuf + <usize>pathLen, <u8>b); pathLen++; }
}

/** Appends ".key" (or "key" at the top) and returns the length to restore afterwards. */
function pushKey(keyLen: i32): i32 {
  const saved = pathLen;
  if (pathLen > 0) pathAppend(0x2e);
  const n = keyLen < KEY_MAX_BYTES ? keyLen : KEY_MAX_BYTES;
  for (let i = 0; i < n; i++) {
    const b = <i32>load<u8>(keyBuf + <usize>i);
    pathAppend(b < 0x20 || b == 0x7f || b == 0x22 || b == 0x5c ? 0x3f : b);
  }
  if (keyLen > KEY_MAX_BYTES) { pathAppend(0x2e); pathAppend(0x2e); pathAppend(0x2e); }
  return saved;
}

function pushIndex(i: i32): i32 {
  const saved = pathLen;
  pathAppend(0x5b);
  // Indices are below 8192 (the manifest's size), so at most four digits.
  let div = 1;
  while (div <= i / 10) div *= 10;
  while (div > 0) { pathAppend(0x30 + (i / div) % 10); div /= 10; }
  pathAppend(0x5d);
  return saved;
}

// ---- Lexing.

function peek(): i32 { return pos < end ? <i32>load<u8>(pos) : -1; }

function skipWs(): void {
  while (pos < end) {
    const c = load<u8>(pos);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
    pos++;
  }
}

function hexVal(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Reads the four hex digits of a \u escape at pos; -1 (and an error) if they are not there. */
function readHex4(): i32 {
  if (end - pos < 4) { syntaxError("four hex digits after \\u"); return -1; }
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const h = hexVal(<i32>load<u8>(pos));
    if (h < 0) { syntaxError("four hex digits after \\u"); return -1; }
    v = (v << 4) | h;
    pos++;
  }
  return v;
}

/** Length of the UTF-8 sequence starting with `b0` at pos, 0 if it is not valid UTF-8. */
function utf8SequenceBytes(b0: i32): i32 {
  let n = 0;
  let lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) n = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) { n = 3; if (b0 == 0xe0) lo = 0xa0; if (b0 == 0xed) hi = 0x9f; }
  else if (b0 >= 0xf0 && b0 <= 0xf4) { n = 4; if (b0 == 0xf0) lo = 0x90; if (b0 == 0xf4) hi = 0x8f; }
  else return 0;
  if (end - pos < <usize>n) return 0;
  const b1 = <i32>load<u8>(pos + 1);
  if (b1 < lo || b1 > hi) return 0;
  for (let i = 2; i < n; i++) if ((<i32>load<u8>(pos + <usize>i) & 0xc0) != 0x80) return 0;
  return n;
}

/** C0 controls, DEL and the C1 controls. */
function isControl(code: i32): bool { return code < 0x20 || (code >= 0x7f && code <= 0x9f); }

function putDecoded(dst: usize, cap: i32, len: i32, b: i32): i32 {
  if (len < cap) store<u8>(dst + <usize>len, <u8>b);
  return len + 1;
}

/**
 * Decodes the string at pos (which is '"') into dst, storing at most `cap` bytes. Returns its
 * decoded length in bytes (which may exceed cap), or -1 after setting an error.
 */
function readString(dst: usize, cap: i32): i32 {
  pos++; // the opening quote
  strHadNul = false;
  strHadControl = false;
  let len = 0;
  while (true) {
    if (pos >= end) { syntaxError("'\"' to close the string"); return -1; }
    const c = <i32>load<u8>(pos);
    if (c == 0x22) { pos++; return len; }
    if (c < 0x20) { syntaxError("no control characters inside a string (escape them)"); return -1; }
    if (c == 0x5c) {
      pos++;
      const e = peek();
      pos++;
      let code = -1;
      if (e == 0x22 || e == 0x5c || e == 0x2f) code = e;
      else if (e == 0x62) code = 0x08;
      else if (e == 0x66) code = 0x0c;
      else if (e == 0x6e) code = 0x0a;
      else if (e == 0x72) code = 0x0d;
      else if (e == 0x74) code = 0x09;
      else if (e == 0x75) {
        code = readHex4();
        if (code < 0) return -1;
        if (code >= 0xdc00 && code <= 0xdfff) { pos -= 6; syntaxError("a \\u escape that is not half of a surrogate pair"); return -1; }
        if (code >= 0xd800 && code <= 0xdbff) {
          if (end - pos < 6 || load<u8>(pos) != 0x5c || load<u8>(pos + 1) != 0x75) { syntaxError("the second half of a surrogate pair (\\uDC00..\\uDFFF)"); return -1; }
          pos += 2;
          const low = readHex4();
          if (low < 0) return -1;
          if (low < 0xdc00 || low > 0xdfff) { pos -= 6; syntaxError("the second half of a surrogate pair (\\uDC00..\\uDFFF)"); return -1; }
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        }
        if (code == 0) strHadNul = true;
        if (isControl(code)) strHadControl = true;
        if (code < 0x80) len = putDecoded(dst, cap, len, code);
        else if (code < 0x800) {
          len = putDecoded(dst, cap, len, 0xc0 | (code >> 6));
          len = putDecoded(dst, cap, len, 0x80 | (code & 0x3f));
        } else if (code < 0x10000) {
          len = putDecoded(dst, cap, len, 0xe0 | (code >> 12));
          len = putDecoded(dst, cap, len, 0x80 | ((code >> 6) & 0x3f));
          len = putDecoded(dst, cap, len, 0x80 | (code & 0x3f));
        } else {
          len = putDecoded(dst, cap, len, 0xf0 | (code >> 18));
          len = putDecoded(dst, cap, len, 0x80 | ((code >> 12) & 0x3f));
          len = putDecoded(dst, cap, len, 0x80 | ((code >> 6) & 0x3f));
          len = putDecoded(dst, cap, len, 0x80 | (code & 0x3f));
        }
        continue;
      } else { pos -= 2; syntaxError("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"); return -1; }
      if (isControl(code)) strHadControl = true;
      len = putDecoded(dst, cap, len, code);
      continue;
    }
    if (c < 0x80) { if (c == 0x7f) strHadControl = true; len = putDecoded(dst, cap, len, c); pos++; continue; }
    const n = utf8SequenceBytes(c);
    if (n == 0) { failAt(EINVAL); msgStr("not valid UTF-8 at byte "); msgInt(<i64>(pos - src)); return -1; }
    // U+0080..U+009F (the C1 controls, such as CSI) are C2 80..C2 9F in UTF-8.
    if (c == 0xc2 && <i32>load<u8>(pos + 1) <= 0x9f) strHadControl = true;
    for (let i = 0; i < n; i++) len = putDecoded(dst, cap, len, <i32>load<u8>(pos + <usize>i));
    pos += <usize>n;
  }
}

/**
 * Reads the JSON number at pos. Records its text span (for messages) and whether it is an
 * integer; returns its value, saturated at +-2^53 so a huge number still compares as huge.
 */
function readNumber(): f64 {
  numStart = pos;
  numIsInteger = true;
  let negative = false;
  if (peek() == 0x2d) { negative = true; pos++; }
  const c0 = peek();
  if (c0 < 0x30 || c0 > 0x39) { syntaxError("a digit"); return 0; }
  let v: f64 = 0;
  if (c0 == 0x30) pos++;
  else {
    while (peek() >= 0x30 && peek() <= 0x39) {
      if (v < 9007199254740992) v = v * 10 + <f64>(peek() - 0x30);
      pos++;
    }
  }
  if (peek() == 0x2e) {
    numIsInteger = false;
    pos++;
    if (!(peek() >= 0x30 && peek() <= 0x39)) { syntaxError("a digit after '.'"); return 0; }
    while (peek() >= 0x30 && peek() <= 0x39) pos++;
  }
  if (peek() == 0x65 || peek() == 0x45) {
    numIsInteger = false;
    pos++;
    if (peek() == 0x2b || peek() == 0x2d) pos++;
    if (!(peek() >= 0x30 && peek() <= 0x39)) { syntaxError("a digit in the exponent"); return 0; }
    while (peek() >= 0x30 && peek() <= 0x39) pos++;
  }
  numEnd = pos;
  return negative ? -v : v;
}

function msgNumberText(): void { msgUserBytes(numStart, <i32>(numEnd - numStart), 24); }

// What the value at pos is, judged by its first byte.
const V_INVALID: i32 = 0;
const V_STRING: i32 = 1;
const V_NUMBER: i32 = 2;
const V_OBJECT: i32 = 3;
const V_ARRAY: i32 = 4;
const V_LITERAL: i32 = 5; // true, false, null

function valueKind(): i32 {
  const c = peek();
  if (c == 0x22) return V_STRING;
  if (c == 0x7b) return V_OBJECT;
  if (c == 0x5b) return V_ARRAY;
  if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return V_NUMBER;
  if (c == 0x74 || c == 0x66 || c == 0x6e) return V_LITERAL;
  return V_INVALID;
}

/** Reads an integer field's value; on a wrong type or a fraction sets the error (check errno). */
function readIntegerValue(what: string): f64 {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return 0; }
  if (k != V_NUMBER) { typeError(what); return 0; }
  const v = readNumber();
  if (errno != 0) return 0;
  if (!numIsInteger) { typeError(what); return 0; }
  return v;
}

/** Reads a string field's value into dst (cap bytes); its decoded length, or -1 on error. */
function readStringValue(dst: usize, cap: i32, what: string): i32 {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return -1; }
  if (k != V_STRING) { typeError(what); return -1; }
  return readString(dst, cap);
}

function keyIs(keyLen: i32, name: string): bool {
  if (keyLen != name.length) return false;
  for (let i = 0; i < keyLen; i++) if (<i32>load<u8>(keyBuf + <usize>i) != name.charCodeAt(i)) return false;
  return true;
}

/**
 * After a member's value: consumes ',' (returns 1: another member follows) or the closing
 * byte (returns 0); sets a syntax error otherwise (returns -1).
 */
function afterMember(close: i32, expected: string): i32 {
  skipWs();
  const c = peek();
  if (c == 0x2c) { pos++; skipWs(); return 1; }
  if (c == close) { pos++; return 0; }
  syntaxError(expected);
  return -1;
}

/** Reads `"key":` at pos into keyBuf; its length, or -1 on error. */
function readKey(): i32 {
  if (peek() != 0x22) { syntaxError("a field name in double quotes"); return -1; }
  const n = readString(keyBuf, KEY_MAX_BYTES);
  if (n < 0) return -1;
  skipWs();
  if (peek() != 0x3a) { syntaxError("':' after the field name"); return -1; }
  pos++;
  skipWs();
  return n;
}

// ---- GUIDs.

let guidHi: u64 = 0;
let guidLo: u64 = 0;

/** Parses 8-4-4-4-12 hex from scratch[0..len) into (guidHi, guidLo), big-endian. */
function parseGuid(len: i32): bool {
  // The 16 bytes land after the text in scratch (SCRATCH_BYTES holds both).
  const parsed = scratch + <usize>GUID_TEXT_BYTES + 4;
  if (len != GUID_TEXT_BYTES || !guidParse(scratch, parsed)) return false;
  guidHi = load<u64>(parsed);
  guidLo = load<u64>(parsed, 8);
  return true;
}

function guidError(): void {
  typeError("a GUID like \"1689d8b2-c835-2e27-27ad-e894d6d15fa9\"");
}

// ---- Fields.

function parseCmdArgs(): void {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return; }
  if (k != V_ARRAY) { typeError("an array of strings"); return; }
  pos++;
  skipWs();
  argsLen = 0;
  if (peek() == 0x5d) { pos++; return; }
  for (let i = 0; ; i++) {
    const saved = pushIndex(i);
    const room = CMD_ARGS_MAX_BYTES - argsLen;
    const n = readStringValue(argsBuf + <usize>argsLen, room > 0 ? room : 0, "a string");
    if (n < 0) return;
    if (strHadNul) { failAt(EINVAL); msgStr("must not contain NUL characters"); return; }
    pathLen = saved;
    // Each argument is stored NUL-terminated; the total is what args_get hands the app.
    if (argsLen + n + 1 > CMD_ARGS_MAX_BYTES) {
      failAt(EINVAL);
      msgStr("must be at most "); msgInt(CMD_ARGS_MAX_BYTES);
      msgStr(" bytes in all, counting a NUL after each argument");
      return;
    }
    argsLen += n;
    store<u8>(argsBuf + <usize>argsLen, 0);
    argsLen++;
    const more = afterMember(0x5d, "',' or ']'");
    if (more <= 0) return;
  }
}

function parseGpio(caps: CapSet): void {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return; }
  if (k != V_ARRAY) { typeError("an array of pin numbers"); return; }
  pos++;
  skipWs();
  if (peek() == 0x5d) { pos++; return; }
  for (let i = 0; ; i++) {
    const saved = pushIndex(i);
    const v = readIntegerValue("a pin number (an integer)");
    if (errno != 0) return;
    if (v < 0) { failAt(EINVAL); msgStr("pin "); msgNumberText(); msgStr(" is not a pin number (pins count from 0)"); return; }
    if (v >= <f64>pinCount) {
      failAt(ENODEV);
      msgStr("pin "); msgNumberText();
      if (pinCount == 0) msgStr(" does not exist on this device (it has no GPIO pins)");
      else { msgStr(" does not exist on this device (pins 0.."); msgInt(pinCount - 1); msgStr(")"); }
      return;
    }
    const pin = <i32>v;
    if (capsHasPin(caps, pin)) { failAt(EINVAL); msgStr("pin "); msgInt(pin); msgStr(" is listed twice"); return; }
    capsAddPin(caps, pin);
    pathLen = saved;
    const more = afterMember(0x5d, "',' or ']'");
    if (more <= 0) return;
  }
}

/** The manifest name of PERIPH_* function `fn`. */
function functionName(fn: i32): string {
  if (fn == PERIPH_UART) return "Uart";
  if (fn == PERIPH_I2C) return "I2cMaster";
  if (fn == PERIPH_SPI) return "SpiMaster";
  if (fn == PERIPH_ADC) return "Adc";
  return "Pwm";
}

/**
 * `Uart`, `I2cMaster`, `SpiMaster`, `Adc`, `Pwm`: an array of interface names of the board that
 * serve function `fn` (board/board.ts), each granted once; an interface serves one function of
 * one app, so naming it under two capabilities is refused too.
 */
function parseInterfaces(caps: CapSet, fn: i32): void {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return; }
  if (k != V_ARRAY) { typeError("an array of interface names (like \"ISU0\")"); return; }
  pos++;
  skipWs();
  if (peek() == 0x5d) { pos++; return; }
  for (let i = 0; ; i++) {
    const saved = pushIndex(i);
    const n = readStringValue(scratch, SCRATCH_BYTES, "an interface name (a string like \"ISU0\")");
    if (n < 0) return;
    const shown = n < SCRATCH_BYTES ? n : SCRATCH_BYTES;
    const id = n <= SCRATCH_BYTES ? boardFind(scratch, n, fn) : -1;
    if (id < 0) {
      failAt(ENODEV);
      msgStr("\""); msgUserBytes(scratch, shown, 32); msgStr("\"");
      if (n > 0 && load<u8>(scratch) == 0x24) {
        msgStr(" is a hardware definition's name: pack with --hardware-definitions to resolve it");
        return;
      }
      msgStr(" is not a "); msgStr(functionName(fn)); msgStr(" interface of this device");
      let listed = 0;
      for (let other = 0; other < boardCount(); other++) {
        if ((boardFunctions(other) & fn) == 0) continue;
        msgStr(listed == 0 ? " (it has " : ", ");
        msgBytes(boardNamePtr(other), boardNameLen(other));
        listed++;
      }
      msgStr(listed == 0 ? " (it has none)" : ")");
      return;
    }
    const already = capsInterfaceFunction(caps, id);
    if (already != 0) {
      failAt(EINVAL);
      msgStr("\""); msgBytes(boardNamePtr(id), boardNameLen(id)); msgStr("\" is listed twice");
      if (already != fn) { msgStr(" (also under "); msgStr(functionName(already)); msgStr(": an interface serves one function)"); }
      return;
    }
    capsAddInterface(caps, fn, id);
    pathLen = saved;
    const more = afterMember(0x5d, "',' or ']'");
    if (more <= 0) return;
  }
}

/** `AllowedApplicationConnections`: up to CHANNEL_PEERS_MAX ComponentIds, each once. */
function parsePeers(caps: CapSet): void {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return; }
  if (k != V_ARRAY) { typeError("an array of ComponentIds"); return; }
  pos++;
  skipWs();
  if (peek() == 0x5d) { pos++; return; }
  for (let i = 0; ; i++) {
    const saved = pushIndex(i);
    const n = readStringValue(scratch, SCRATCH_BYTES, "a ComponentId (a GUID like \"1689d8b2-c835-2e27-27ad-e894d6d15fa9\")");
    if (n < 0) return;
    if (!parseGuid(n)) { guidError(); return; }
    if (capsListsPeer(caps, guidHi, guidLo)) { failAt(EINVAL); msgStr("listed twice"); return; }
    if (!capsAddPeer(caps, guidHi, guidLo)) { failAt(EINVAL); msgStr("at most "); msgInt(CHANNEL_PEERS_MAX); msgStr(" apps may be listed"); return; }
    pathLen = saved;
    const more = afterMember(0x5d, "',' or ']'");
    if (more <= 0) return;
  }
}

/**
 * `AllowedConnections`: host names (`*.name` wildcards too) and IPv4/IPv6 addresses, kept as
 * their canonical forms (net/allow.ts) so that a connection's target is compared byte for byte.
 * An entry that is none of those forms is refused naming it; so is one listed twice.
 */
function parseConnections(caps: CapSet): void {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return; }
  if (k != V_ARRAY) { typeError("an array of host names and IP addresses"); return; }
  pos++;
  skipWs();
  caps.classMask |= CAP_NETWORK;
  if (peek() == 0x5d) { pos++; return; }
  for (let i = 0; ; i++) {
    const saved = pushIndex(i);
    const n = readStringValue(hostText, HOST_TEXT_BYTES, "a host name or IP address (a string)");
    if (n < 0) return;
    if (i >= NET_ALLOW_MAX_ENTRIES) { failAt(EINVAL); msgStr("at most "); msgInt(NET_ALLOW_MAX_ENTRIES); msgStr(" entries may be listed"); return; }
    const shown = n < HOST_TEXT_BYTES ? n : HOST_TEXT_BYTES;
    const at = allowBuf + <usize>allowLen;
    const canonLen = n <= NET_HOST_MAX_BYTES + 2 ? netCanonical(hostText, n, at + 1, true) : -EINVAL;
    if (canonLen < 0) {
      failAt(EINVAL); msgStr("\""); msgUserBytes(hostText, shown, 64);
      msgStr("\" is not a host name (letters, digits, '-', labels of 1 to 63), a *.name wildcard or an IP address");
      return;
    }
    for (let p = 0; p < allowLen; p += 1 + <i32>load<u8>(allowBuf + <usize>p)) {
      const len = <i32>load<u8>(allowBuf + <usize>p);
      if (len == canonLen && memory.compare(allowBuf + <usize>(p + 1), at + 1, <usize>len) == 0) {
        failAt(EINVAL); msgStr("\""); msgUserBytes(hostText, shown, 64); msgStr("\" is listed twice (as written or in another spelling)");
        return;
      }
    }
    if (allowLen + 1 + canonLen > NET_ALLOW_MAX_BYTES) {
      failAt(EINVAL); msgStr("the list takes more than "); msgInt(NET_ALLOW_MAX_BYTES); msgStr(" bytes; list fewer or shorter names");
      return;
    }
    store<u8>(at, <u8>canonLen);
    allowLen += 1 + canonLen;
    caps.connectionCount = i + 1;
    caps.allowBytes = allowLen;
    pathLen = saved;
    const more = afterMember(0x5d, "',' or ']'");
    if (more <= 0) return;
  }
}

/**
 * `AllowedTcpServerPorts`, `AllowedUdpServerPorts`: up to NET_SERVER_PORTS_MAX ports (1..65535),
 * each once, that the app may listen on.
 */
function parsePorts(caps: CapSet, protocol: i32): void {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return; }
  if (k != V_ARRAY) { typeError("an array of port numbers"); return; }
  pos++;
  skipWs();
  if (peek() == 0x5d) { pos++; return; }
  for (let i = 0; ; i++) {
    const saved = pushIndex(i);
    const v = readIntegerValue("a port number (an integer 1 to 65535)");
    if (errno != 0) return;
    if (v < 1 || v > 65535) { failAt(EINVAL); msgStr("must be a port number 1 to 65535, not "); msgNumberText(); return; }
    if (capsServesPort(caps, protocol, <i32>v)) { failAt(EINVAL); msgStr("port "); msgInt(<i32>v); msgStr(" is listed twice"); return; }
    if (!capsAddPort(caps, protocol, <i32>v)) { failAt(EINVAL); msgStr("at most "); msgInt(NET_SERVER_PORTS_MAX); msgStr(" ports may be listed"); return; }
    pathLen = saved;
    const more = afterMember(0x5d, "',' or ']'");
    if (more <= 0) return;
  }
}

/**
 * `NetworkManager` / `UpdateAgent`: true, giving `bit`. A system app's only (app_install_system):
 * a user manifest is refused, naming `who` may hold it.
 */
function parseSystemFlag(caps: CapSet, bit: u32, who: string): void {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return; }
  const isTrue = k == V_LITERAL && end - pos >= 4 && load<u32>(pos) == 0x65757274; // "true"
  if (!isTrue) { typeError("true"); return; }
  pos += 4;
  if (!systemManifest) { failAt(EPERM); msgStr("only "); msgStr(who); msgStr(", a system app in the OS image, may hold this"); return; }
  caps.classMask |= bit;
}

/**
 * `SystemTime`, `PowerControls`, `SystemEventNotifications`, `SoftwareUpdateDeferral`: true grants
 * `bit`, false grants nothing (Azure Sphere's manifest takes a boolean); anything else is a type error.
 */
function parseBooleanGrant(caps: CapSet, bit: u32): void {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return; }
  const isTrue = k == V_LITERAL && end - pos >= 4 && load<u32>(pos) == 0x65757274; // "true"
  const isFalse = k == V_LITERAL && end - pos >= 5 && load<u32>(pos) == 0x736c6166 && load<u8>(pos, 4) == 0x65; // "false"
  if (!isTrue && !isFalse) { typeError("true or false"); return; }
  pos += isTrue ? 4 : 5;
  if (isTrue) caps.classMask |= bit;
}

/** An array of strings for a capability the device does not support yet; counts its entries. */
function parseStringList(): i32 {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return -1; }
  if (k != V_ARRAY) { typeError("an array of strings"); return -1; }
  pos++;
  skipWs();
  if (peek() == 0x5d) { pos++; return 0; }
  for (let i = 0; ; i++) {
    const saved = pushIndex(i);
    const n = readStringValue(scratch, SCRATCH_BYTES, "a string");
    if (n < 0) return -1;
    pathLen = saved;
    const more = afterMember(0x5d, "',' or ']'");
    if (more < 0) return -1;
    if (more == 0) return i + 1;
  }
  return -1; // not reached: the loop returns
}

/**
 * Reads an object whose one member may be `key`, an integer from `min` to `max` (`rangeText`
 * says so in an error, before the number). Returns it, or -1 for an empty object; on anything
 * else sets the error (check errno). `example` shows the object in a message.
 */
function readOneIntegerMember(key: string, example: string, what: string, min: f64, max: f64, rangeText: string): f64 {
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return -1; }
  if (k != V_OBJECT) { failAt(EINVAL); msgStr("expected an object like "); msgStr(example); return -1; }
  pos++;
  skipWs();
  if (peek() == 0x7d) { pos++; return -1; }
  let value: f64 = -1;
  while (true) {
    const keyLen = readKey();
    if (keyLen < 0) return -1;
    const saved = pushKey(keyLen);
    if (!keyIs(keyLen, key)) { failAt(EINVAL); msgStr("unknown field"); return -1; }
    if (value >= 0) { failAt(EINVAL); msgStr("duplicate field"); return -1; }
    const v = readIntegerValue(what);
    if (errno != 0) return -1;
    if (v < min || v > max) { failAt(EINVAL); msgStr(rangeText); msgNumberText(); return -1; }
    value = v;
    pathLen = saved;
    const more = afterMember(0x7d, "',' or '}'");
    if (more <= 0) return more < 0 ? -1 : value;
  }
  return -1; // not reached: the loop returns
}

function parseMutableStorage(caps: CapSet): void {
  const example = "{\"SizeKB\": 64}";
  const v = readOneIntegerMember("SizeKB", example, "an integer", 1, <f64>STORAGE_MAX_KIB, "must be 1 to 65536, not ");
  if (errno != 0) return;
  if (v < 0) { failAt(EINVAL); msgStr("SizeKB is missing (an object like "); msgStr(example); msgStr(")"); return; }
  caps.storageQuotaBytes = <i32>v * KIB;
}

/** `CpuBudget`: {"FuelPerSecond": N}, N an integer from CPU_BUDGET_MIN_FUEL to CPU_BUDGET_MAX_FUEL. */
function parseCpuBudget(): void {
  const example = "{\"FuelPerSecond\": 1000000000}";
  const v = readOneIntegerMember("FuelPerSecond", example, "an integer (fuel a second of device time)",
    <f64>CPU_BUDGET_MIN_FUEL, <f64>CPU_BUDGET_MAX_FUEL, "must be 2000000 (one slice a second) to 1000000000000, not ");
  if (errno != 0) return;
  if (v < 0) { failAt(EINVAL); msgStr("FuelPerSecond is missing (an object like "); msgStr(example); msgStr(")"); return; }
  cpuBudgetFuel = v;
}

/**
 * Azure Sphere capabilities this device does not give yet (SPEC.md, "Capabilities"): a manifest
 * naming one is refused as not supported, not as unknown, so its author knows it is not a typo.
 */
function isKnownUnsupported(keyLen: i32): bool {
  return keyIs(keyLen, "DeviceAuthentication") || keyIs(keyLen, "CertStore") || keyIs(keyLen, "EnterpriseWifiConfig")
    || keyIs(keyLen, "NetworkConfig") || keyIs(keyLen, "WifiConfig") || keyIs(keyLen, "HardwareAddressConfig")
    || keyIs(keyLen, "SntpService") || keyIs(keyLen, "ReadNetworkProxyConfig") || keyIs(keyLen, "MutableStorageEncrypted");
}

function notSupportedYet(): void {
  failAt(EINVAL);
  msgStr("not supported by this device yet");
}

function parseCapabilities(): void {
  const caps = capsOf(CAPS_STAGING);
  const k = valueKind();
  if (k == V_INVALID) { syntaxError("a value"); return; }
  if (k != V_OBJECT) { typeError("an object"); return; }
  pos++;
  skipWs();
  if (peek() == 0x7d) { pos++; return; }
  let seen: i32 = 0;
  while (true) {
    const keyLen = readKey();
    if (keyLen < 0) return;
    const saved = pushKey(keyLen);
    let bit: u32 = 0;
    if (keyIs(keyLen, "Gpio")) bit = 1 << 31; // its own bit here: CAP_GPIO is set by the first pin
    else if (keyIs(keyLen, "Uart")) bit = CAP_UART;
    else if (keyIs(keyLen, "I2cMaster")) bit = CAP_I2C;
    else if (keyIs(keyLen, "SpiMaster")) bit = CAP_SPI;
    else if (keyIs(keyLen, "Adc")) bit = CAP_ADC;
    else if (keyIs(keyLen, "Pwm")) bit = CAP_PWM;
    else if (keyIs(keyLen, "AllowedConnections")) bit = CAP_NETWORK;
    else if (keyIs(keyLen, "AllowedApplicationConnections")) bit = CAP_APP_CONNECTIONS;
    else if (keyIs(keyLen, "MutableStorage")) bit = CAP_STORAGE;
    else if (keyIs(keyLen, "AllowedTcpServerPorts")) bit = 1 << 29;
    else if (keyIs(keyLen, "AllowedUdpServerPorts")) bit = 1 << 30;
    else if (keyIs(keyLen, "NetworkManager")) bit = CAP_NET_ADMIN;
    else if (keyIs(keyLen, "SystemTime")) bit = CAP_SYSTEM_TIME;
    else if (keyIs(keyLen, "PowerControls")) bit = CAP_POWER_CONTROLS;
    else if (keyIs(keyLen, "SystemEventNotifications")) bit = CAP_SYSEVENT;
    else if (keyIs(keyLen, "SoftwareUpdateDeferral")) bit = CAP_UPDATE_DEFERRAL;
    else if (keyIs(keyLen, "UpdateAgent")) bit = CAP_UPDATE;
    else if (isKnownUnsupported(keyLen)) { notSupportedYet(); return; }
    else { failAt(EINVAL); msgStr("unknown capability"); return; }
    if ((<u32>seen & bit) != 0) { failAt(EINVAL); msgStr("duplicate field"); return; }
    seen |= <i32>bit;
    if (bit == 1 << 31) {
      parseGpio(caps);
      if (errno != 0) return;
    } else if (bit == CAP_STORAGE) {
      parseMutableStorage(caps);
      if (errno != 0) return;
      caps.classMask |= bit;
    } else if (bit == CAP_APP_CONNECTIONS) {
      parsePeers(caps);
      if (errno != 0) return;
    } else if (bit == CAP_NETWORK) {
      parseConnections(caps);
      if (errno != 0) return;
    } else if (bit == 1 << 29 || bit == 1 << 30) {
      parsePorts(caps, bit == 1 << 29 ? NET_TCP : NET_UDP);
      if (errno != 0) return;
    } else if (bit == CAP_NET_ADMIN || bit == CAP_UPDATE) {
      parseSystemFlag(caps, bit, bit == CAP_NET_ADMIN ? "the network manager" : "the update agent");
      if (errno != 0) return;
    } else if (bit == CAP_SYSTEM_TIME || bit == CAP_POWER_CONTROLS || bit == CAP_SYSEVENT || bit == CAP_UPDATE_DEFERRAL) {
      parseBooleanGrant(caps, bit);
      if (errno != 0) return;
    } else if (bit == CAP_UART || bit == CAP_I2C || bit == CAP_SPI || bit == CAP_ADC || bit == CAP_PWM) {
      parseInterfaces(caps, bit == CAP_UART ? PERIPH_UART : bit == CAP_I2C ? PERIPH_I2C : bit == CAP_SPI ? PERIPH_SPI : bit == CAP_ADC ? PERIPH_ADC : PERIPH_PWM);
      if (errno != 0) return;
    } else {
      const n = parseStringList();
      if (n < 0) return;
      // Recorded as values, as a supported capability will be, then refused for now.
      caps.classMask |= bit;
      caps.connectionCount = n;
      notSupportedYet();
      return;
    }
    pathLen = saved;
    const more = afterMember(0x7d, "',' or '}'");
    if (more < 0) return;
    if (more == 0) break;
  }
  // Deferring needs the notifications that say what to defer (sysevent.h asks for both).
  if ((caps.classMask & CAP_UPDATE_DEFERRAL) != 0 && (caps.classMask & CAP_SYSEVENT) == 0) {
    failAt(EINVAL);
    msgStr("SoftwareUpdateDeferral needs SystemEventNotifications: true");
  }
}

/** Parses one top-level member whose key is in keyBuf; updates `seen`. Returns the new mask. */
function parseTopField(keyLen: i32, seen: i32): i32 {
  let bit = 0;
  if (keyIs(keyLen, "SchemaVersion")) bit = F_SCHEMA;
  else if (keyIs(keyLen, "Name")) bit = F_NAME;
  else if (keyIs(keyLen, "ComponentId")) bit = F_ID;
  else if (keyIs(keyLen, "EntryPoint")) bit = F_ENTRY;
  else if (keyIs(keyLen, "CmdArgs")) bit = F_ARGS;
  else if (keyIs(keyLen, "ApplicationType")) bit = F_TYPE;
  else if (keyIs(keyLen, "Capabilities")) bit = F_CAPS;
  else if (keyIs(keyLen, "MemoryQuotaKiB")) bit = F_QUOTA;
  else if (keyIs(keyLen, "Priority")) bit = F_PRIORITY;
  else if (keyIs(keyLen, "CpuBudget")) bit = F_CPU_BUDGET;
  else { failAt(EINVAL); msgStr("unknown field"); return seen; }
  if (seen & bit) { failAt(EINVAL); msgStr("duplicate field"); return seen; }
  seen |= bit;

  if (bit == F_SCHEMA) {
    const v = readIntegerValue("an integer");
    if (errno != 0) return seen;
    if (v != 1) { failAt(EINVAL); msgStr("must be 1, not "); msgNumberText(); }
  } else if (bit == F_NAME) {
    const n = readStringValue(nameBuf, APP_NAME_MAX_BYTES, "a string");
    if (n < 0) return seen;
    if (n < 1 || n > APP_NAME_MAX_BYTES) {
      failAt(EINVAL); msgStr("must be 1 to "); msgInt(APP_NAME_MAX_BYTES); msgStr(" bytes, not "); msgInt(n);
    } else if (strHadControl) controlError();
    nameLen = n;
  } else if (bit == F_ID) {
    const n = readStringValue(scratch, SCRATCH_BYTES, "a GUID like \"1689d8b2-c835-2e27-27ad-e894d6d15fa9\"");
    if (n < 0) return seen;
    if (!parseGuid(n)) { guidError(); return seen; }
    idHi = guidHi;
    idLo = guidLo;
  } else if (bit == F_ENTRY) {
    const n = readStringValue(entryBuf, ENTRY_POINT_MAX_BYTES, "a string");
    if (n < 0) return seen;
    entryLen = n;
    if (strHadControl) controlError();
    else validateEntryPoint(n);
  } else if (bit == F_ARGS) {
    parseCmdArgs();
  } else if (bit == F_TYPE) {
    const n = readStringValue(scratch, SCRATCH_BYTES, "a string");
    if (n < 0) return seen;
    if (!sameAscii(scratch, n, "Default")) {
      failAt(EINVAL); msgStr("only \"Default\" is supported, not \""); msgUserBytes(scratch, n < SCRATCH_BYTES ? n : SCRATCH_BYTES, 32); msgStr("\"");
    }
  } else if (bit == F_CAPS) {
    parseCapabilities();
  } else if (bit == F_QUOTA) {
    const v = readIntegerValue("an integer (KiB)");
    if (errno != 0) return seen;
    const ceilingKiB = ceilingBytes / KIB;
    if (v < <f64>QUOTA_STEP_KIB || v > <f64>ceilingKiB || (<i64>v) % QUOTA_STEP_KIB != 0) {
      failAt(EINVAL);
      msgStr("must be a multiple of 64 from 64 to "); msgInt(ceilingKiB);
      msgStr(" (this device's ceiling), not "); msgNumberText();
      return seen;
    }
    quotaBytes = <i32>v * KIB;
  } else if (bit == F_PRIORITY) {
    const v = readIntegerValue("an integer");
    if (errno != 0) return seen;
    if (v < 0 || v >= <f64>PRIORITY_LEVELS) {
      failAt(EINVAL); msgStr("must be 0 (runs first) to "); msgInt(PRIORITY_LEVELS - 1); msgStr(", not "); msgNumberText();
      return seen;
    }
    priority = <i32>v;
  } else if (bit == F_CPU_BUDGET) {
    parseCpuBudget();
  }
  return seen;
}

/**
 * A name or path holding a control character could forge a line or drive a terminal wherever it
 * is printed, so such values are refused, not escaped.
 */
function controlError(): void {
  failAt(EINVAL);
  msgStr("must not contain control characters (U+0000..U+001F, U+007F..U+009F)");
}

function sameAscii(p: usize, n: i32, s: string): bool {
  if (n != s.length) return false;
  for (let i = 0; i < n; i++) if (<i32>load<u8>(p + <usize>i) != s.charCodeAt(i)) return false;
  return true;
}

function validateEntryPoint(n: i32): void {
  if (n == 0) { failAt(EINVAL); msgStr("must not be empty"); return; }
  if (n > ENTRY_POINT_MAX_BYTES) {
    failAt(EINVAL); msgStr("must be at most "); msgInt(ENTRY_POINT_MAX_BYTES); msgStr(" bytes, not "); msgInt(n);
    return;
  }
  // A path inside the package: relative, '/'-separated, no '..' step, no NUL or backslash.
  let ok = !strHadNul && load<u8>(entryBuf) != 0x2f;
  let segStart = 0;
  for (let i = 0; i <= n && ok; i++) {
    const c = i < n ? <i32>load<u8>(entryBuf + <usize>i) : 0x2f;
    if (c == 0x5c || c == 0) ok = false;
    if (c == 0x2f) {
      if (i - segStart == 2 && load<u8>(entryBuf + <usize>segStart) == 0x2e && load<u8>(entryBuf + <usize>segStart + 1) == 0x2e) ok = false;
      if (i == segStart) ok = false; // an empty step ("a//b", "a/")
      segStart = i + 1;
    }
  }
  if (!ok) { failAt(EINVAL); msgStr("must be a relative path inside the app's package (no leading '/', no '..', no empty steps)"); return; }
  const dot = n - 5;
  if (n < 6 || !sameAscii(entryBuf + <usize>dot, 5, ".wasm")) { failAt(EINVAL); msgStr("must name a module ending in \".wasm\""); }
}

function missing(field: string): void {
  errno = EINVAL;
  msgClear();
  msgStr(field);
  msgStr(": required field is missing");
}

/**
 * Parses and validates the manifest in [ptr, ptr + len). `gpioPinCount` and `quotaCeilingBytes`
 * describe the device; `defaultQuotaBytes` is the quota when the manifest names none. Returns 0,
 * or -EINVAL / -ENODEV with the message set.
 */
export function parseManifest(ptr: usize, len: i32, gpioPinCount: i32, quotaCeilingBytes: i32, defaultQuotaBytes: i32, system: bool): i32 {
  systemManifest = system;
  allowLen = 0;
  src = ptr;
  end = ptr + (len > 0 ? <usize>len : 0);
  pos = ptr;
  errno = 0;
  pathLen = 0;
  pinCount = gpioPinCount < MAX_GPIO_PINS ? gpioPinCount : MAX_GPIO_PINS;
  ceilingBytes = quotaCeilingBytes;
  nameLen = 0; entryLen = 0; argsLen = 0; idHi = 0; idLo = 0;
  quotaBytes = defaultQuotaBytes;
  priority = DEFAULT_PRIORITY;
  cpuBudgetFuel = 0;
  capsClear(CAPS_STAGING);
  msgClear();

  // A UTF-8 byte order mark, as some editors write one.
  if (end - pos >= 3 && load<u8>(pos) == 0xef && load<u8>(pos + 1) == 0xbb && load<u8>(pos + 2) == 0xbf) pos += 3;
  skipWs();
  if (peek() != 0x7b) {
    if (pos >= end) syntaxError("'{' (the manifest is empty)");
    else typeError("a JSON object ({ ... })");
    return -errno;
  }
  pos++;
  skipWs();
  let seen = 0;
  if (peek() == 0x7d) pos++;
  else {
    while (true) {
      const keyLen = readKey();
      if (keyLen < 0) return -errno;
      const saved = pushKey(keyLen);
      seen = parseTopField(keyLen, seen);
      if (errno != 0) return -errno;
      pathLen = saved;
      const more = afterMember(0x7d, "',' or '}'");
      if (more < 0) return -errno;
      if (more == 0) break;
    }
  }
  skipWs();
  if (pos < end) { syntaxError("nothing after the manifest's closing '}'"); return -errno; }
  if (!(seen & F_SCHEMA)) { missing("SchemaVersion"); return -errno; }
  if (!(seen & F_NAME)) { missing("Name"); return -errno; }
  if (!(seen & F_ID)) { missing("ComponentId"); return -errno; }
  if (!(seen & F_ENTRY)) { missing("EntryPoint"); return -errno; }
  capsOf(CAPS_STAGING).classMask |= CAP_BASELINE;
  return 0;
}
