// json: a small, strict JSON reader for the update agent's feed (RFC 8259 values, nothing more).
// It reads a whole text into a tree of JValue; anything else (a trailing comma, a comment, a bare
// word, an unpaired surrogate escape, a nesting deeper than MAX_DEPTH, text after the value) is
// an error with its offset, and no tree. Duplicate keys are refused too: a feed is read one way.
// Memory: the tree (about the text's size again); recursion at most MAX_DEPTH deep.
// Must not: trap on any input.

export const J_NULL: i32 = 0;
export const J_BOOL: i32 = 1;
export const J_NUMBER: i32 = 2;
export const J_STRING: i32 = 3;
export const J_ARRAY: i32 = 4;
export const J_OBJECT: i32 = 5;
const MAX_DEPTH: i32 = 16;

export class JValue {
  kind: i32 = J_NULL;
  flag: bool = false;
  num: f64 = 0;
  str: string = "";
  items: Array<JValue> = new Array<JValue>();
  keys: Array<string> = new Array<string>();

  /** The member `key` of an object, or null. */
  get(key: string): JValue | null {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.items[i];
    return null;
  }
}

export class JReader {
  error: string = "";
  at: i32 = 0;
  constructor(public text: string) {}

  private fail(what: string): JValue | null {
    if (this.error.length == 0) this.error = what + " at offset " + this.at.toString();
    return null;
  }
  private ws(): void {
    while (this.at < this.text.length) {
      const c = this.text.charCodeAt(this.at);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
      this.at++;
    }
  }

  /** The whole text as one value, or null with `error` set. */
  parse(): JValue | null {
    const v = this.value(0);
    if (v == null) return null;
    this.ws();
    if (this.at != this.text.length) return this.fail("text after the value");
    return v;
  }

  private value(depth: i32): JValue | null {
    if (depth > MAX_DEPTH) return this.fail("nested too deep");
    this.ws();
    if (this.at >= this.text.length) return this.fail("a value expected");
    const c = this.text.charCodeAt(this.at);
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const s = this.string();
      if (s == null) return null;
      const v = new JValue(); v.kind = J_STRING; v.str = s; return v;
    }
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.text.startsWith("true", this.at)) { this.at += 4; const v = new JValue(); v.kind = J_BOOL; v.flag = true; return v; }
    if (this.text.startsWith("false", this.at)) { this.at += 5; const v = new JValue(); v.kind = J_BOOL; return v; }
    if (this.text.startsWith("null", this.at)) { this.at += 4; return new JValue(); }
    return this.fail("not a JSON value");
  }

  private object(depth: i32): JValue | null {
    const v = new JValue(); v.kind = J_OBJECT;
    this.at++;
    this.ws();
    if (this.at < this.text.length && this.text.charCodeAt(this.at) == 0x7d) { this.at++; return v; }
    while (true) {
      this.ws();
      if (this.at >= this.text.length || this.text.charCodeAt(this.at) != 0x22) return this.fail("a key expected");
      const k = this.string();
      if (k == null) return null;
      if (v.get(k) != null) return this.fail("duplicate key");
      this.ws();
      if (this.at >= this.text.length || this.text.charCodeAt(this.at) != 0x3a) return this.fail("':' expected");
      this.at++;
      const item = this.value(depth + 1);
      if (item == null) return null;
      v.keys.push(k); v.items.push(item);
      this.ws();
      if (this.at >= this.text.length) return this.fail("unterminated object");
      const c = this.text.charCodeAt(this.at++);
      if (c == 0x7d) return v;
      if (c != 0x2c) return this.fail("',' or '}' expected");
    }
  }

  private array(depth: i32): JValue | null {
    const v = new JValue(); v.kind = J_ARRAY;
    this.at++;
    this.ws();
    if (this.at < this.text.length && this.text.charCodeAt(this.at) == 0x5d) { this.at++; return v; }
    while (true) {
      const item = this.value(depth + 1);
      if (item == null) return null;
      v.items.push(item);
      this.ws();
      if (this.at >= this.text.length) return this.fail("unterminated array");
      const c = this.text.charCodeAt(this.at++);
      if (c == 0x5d) return v;
      if (c != 0x2c) return this.fail("',' or ']' expected");
    }
  }

  private hex4(): i32 {
    if (this.at + 4 > this.text.length) return -1;
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.text.charCodeAt(this.at + i);
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (d < 0) return -1;
      n = n * 16 + d;
    }
    this.at += 4;
    return n;
  }

  private string(): string | null {
    this.at++;
    const parts = new Array<string>();
    let run = this.at;
    while (true) {
      if (this.at >= this.text.length) { this.fail("unterminated string"); return null; }
      const c = this.text.charCodeAt(this.at);
      if (c == 0x22) { parts.push(this.text.substring(run, this.at)); this.at++; return parts.join(""); }
      if (c < 0x20) { this.fail("a control character in a string"); return null; }
      if (c != 0x5c) { this.at++; continue; }
      parts.push(this.text.substring(run, this.at));
      this.at++;
      if (this.at >= this.text.length) { this.fail("unterminated string"); return null; }
      const e = this.text.charCodeAt(this.at++);
      if (e == 0x22) parts.push("\""); else if (e == 0x5c) parts.push("\\"); else if (e == 0x2f) parts.push("/");
      else if (e == 0x62) parts.push("\b"); else if (e == 0x66) parts.push("\f"); else if (e == 0x6e) parts.push("\n");
      else if (e == 0x72) parts.push("\r"); else if (e == 0x74) parts.push("\t");
      else if (e == 0x75) {
        const u = this.hex4();
        if (u < 0) { this.fail("a bad \\u escape"); return null; }
        if (u >= 0xd800 && u <= 0xdbff) {
          if (!this.text.startsWith("\\u", this.at)) { this.fail("an unpaired surrogate"); return null; }
          this.at += 2;
          const lo = this.hex4();
          if (lo < 0xdc00 || lo > 0xdfff) { this.fail("an unpaired surrogate"); return null; }
          parts.push(String.fromCharCode(u) + String.fromCharCode(lo));
        } else if (u >= 0xdc00 && u <= 0xdfff) { this.fail("an unpaired surrogate"); return null; }
        else parts.push(String.fromCharCode(u));
      } else { this.fail("a bad escape"); return null; }
      run = this.at;
    }
  }

  private number(): JValue | null {
    const start = this.at;
    if (this.text.charCodeAt(this.at) == 0x2d) this.at++;
    const digits = (r: JReader): i32 => {
      let n = 0;
      while (r.at < r.text.length) { const c = r.text.charCodeAt(r.at); if (c < 0x30 || c > 0x39) break; r.at++; n++; }
      return n;
    };
    const intStart = this.at;
    if (digits(this) == 0) return this.fail("a number expected");
    if (this.at - intStart > 1 && this.text.charCodeAt(intStart) == 0x30) return this.fail("a leading zero");
    if (this.at < this.text.length && this.text.charCodeAt(this.at) == 0x2e) { this.at++; if (digits(this) == 0) return this.fail("digits after '.' expected"); }
    if (this.at < this.text.length && (this.text.charCodeAt(this.at) | 0x20) == 0x65) {
      this.at++;
      if (this.at < this.text.length && (this.text.charCodeAt(this.at) == 0x2b || this.text.charCodeAt(this.at) == 0x2d)) this.at++;
      if (digits(this) == 0) return this.fail("exponent digits expected");
    }
    const v = new JValue(); v.kind = J_NUMBER; v.num = parseFloat(this.text.substring(start, this.at));
    return v;
  }
}
