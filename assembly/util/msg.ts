// msg: the core's last error message (`core_error_message`), built in place.
//
// What it is: one static byte buffer that exports fill with a sentence naming what went wrong
// (a manifest field, a pin, a quota). Builders append ASCII literals, integers and bytes the
// user supplied; the text is cut, never overflowed, at MSG_MAX_BYTES.
// Invariants: msgLenBytes <= MSG_MAX_BYTES; the buffer holds UTF-8.
// Budget: MSG_MAX_BYTES static bytes, nothing on the heap.
// Must not: allocate (string literals are read in place, char by char), or trap on long input.

export const MSG_MAX_BYTES: i32 = 512;
const msgBuf = memory.data(MSG_MAX_BYTES);
let msgLenBytes: i32 = 0;

export function msgPtr(): usize { return msgBuf; }
export function msgLen(): i32 { return msgLenBytes; }
export function msgClear(): void { msgLenBytes = 0; }

function putByte(b: i32): void {
  if (msgLenBytes >= MSG_MAX_BYTES) return;
  store<u8>(msgBuf + <usize>msgLenBytes, <u8>b);
  msgLenBytes++;
}

/** Appends a literal (the core's own text: ASCII, or BMP characters encoded as UTF-8). */
export function msgStr(s: string): void {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) putByte(c);
    else if (c < 0x800) { putByte(0xc0 | (c >> 6)); putByte(0x80 | (c & 0x3f)); }
    else { putByte(0xe0 | (c >> 12)); putByte(0x80 | ((c >> 6) & 0x3f)); putByte(0x80 | (c & 0x3f)); }
  }
}

/** Appends a signed decimal integer. */
export function msgInt(v: i64): void {
  if (v < 0) { putByte(0x2d); v = -v; }
  // 20 digits hold any i64 magnitude; emitted most significant first.
  let div: i64 = 1;
  while (div <= v / 10) div *= 10;
  while (div > 0) { putByte(<i32>(v / div) + 0x30); v %= div; div /= 10; }
}

/**
 * Appends bytes that came from outside the core (a name, an unknown key), cut at `maxBytes`
 * with "..." and with control characters and quotes shown as '?', so a message can be printed
 * as is and cannot forge a second line.
 */
export function msgUserBytes(ptr: usize, len: i32, maxBytes: i32): void {
  let n = len < maxBytes ? len : maxBytes;
  // Cut on a character boundary, so the message stays valid UTF-8.
  if (n < len) while (n > 0 && (<i32>load<u8>(ptr + <usize>n) & 0xc0) == 0x80) n--;
  for (let i = 0; i < n; i++) {
    const b = <i32>load<u8>(ptr + <usize>i);
    putByte(b < 0x20 || b == 0x7f || b == 0x22 || b == 0x5c ? 0x3f : b);
  }
  if (len > maxBytes) msgStr("...");
}

/** Appends bytes the core itself produced (a path it built), unfiltered. */
export function msgBytes(ptr: usize, len: i32): void {
  for (let i = 0; i < len; i++) putByte(<i32>load<u8>(ptr + <usize>i));
}

/**
 * Sets the message to "SUBJECT: PART: WHAT" (the raw-flash parsers' refusals, which name the part
 * they refused) and returns -code.
 */
export function msgFail(code: i32, subject: string, part: string, what: string): i32 {
  msgClear();
  msgStr(subject);
  msgStr(": ");
  msgStr(part);
  msgStr(": ");
  msgStr(what);
  return -code;
}

/** As msgFail, with a number and the rest of the sentence after WHAT. */
export function msgFailNum(code: i32, subject: string, part: string, what: string, value: i64, rest: string): i32 {
  msgFail(code, subject, part, what);
  msgInt(value);
  msgStr(rest);
  return -code;
}
