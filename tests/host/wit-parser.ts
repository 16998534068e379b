// A strict parser for the subset of WIT that wit/wasphere.wit uses, and the canonical ABI's
// flattening of its functions into core-wasm signatures (component model, CanonicalABI.md:
// flatten_functype with MAX_FLAT_PARAMS 16 and MAX_FLAT_RESULTS 1).
//
// Subset: `package ns:name@version;`; `interface` blocks holding `enum`, `record` and
// `NAME: func(...) [-> T];`; `world` blocks of `import NAME;` / `export NAME;`; types: the integer
// and float primitives, bool, char, string, list<T>, option<T>, result<T, E> (either side may be
// `_`, or no parameters), tuple<...> and names defined in the same interface. Anything else is a
// parse error with its line: a WIT feature the checks cannot lower must not be skipped.
// Must not: accept what a real WIT parser would refuse in this subset (unknown type, duplicate
// name, a keyword used as a name without `%`).

export type WitType =
  | { kind: "prim"; name: string }
  | { kind: "list"; of: WitType }
  | { kind: "option"; of: WitType }
  | { kind: "result"; ok: WitType | null; err: WitType | null }
  | { kind: "tuple"; of: WitType[] }
  | { kind: "named"; name: string };

export interface WitParam { name: string; type: WitType }
export interface WitFunc { name: string; params: WitParam[]; result: WitType | null }
export type WitTypeDef =
  | { kind: "enum"; name: string; cases: string[] }
  | { kind: "record"; name: string; fields: WitParam[] };
export interface WitInterface { name: string; types: Map<string, WitTypeDef>; funcs: WitFunc[] }
export interface WitWorld { name: string; imports: string[]; exports: string[] }
export interface WitPackage { namespace: string; name: string; version: string; interfaces: Map<string, WitInterface>; worlds: Map<string, WitWorld> }

const PRIMS = new Set(["bool", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "f32", "f64", "char", "string"]);
const KEYWORDS = new Set([
  "use", "type", "func", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "f32", "f64", "char", "bool", "string",
  "record", "flags", "variant", "enum", "option", "result", "list", "tuple", "resource", "own", "borrow", "import",
  "export", "interface", "package", "world", "include", "with", "static", "constructor", "future", "stream", "async",
  "error-context",
]);
const IDENT = /^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$/;

interface Token { text: string; line: number }

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0, line = 1;
  while (i < src.length) {
    const c = src[i];
    if (c === "\n") { line++; i++; continue; }
    if (c === " " || c === "\t" || c === "\r") { i++; continue; }
    if (src.startsWith("//", i)) { while (i < src.length && src[i] !== "\n") i++; continue; }
    if (src.startsWith("/*", i)) {
      const end = src.indexOf("*/", i + 2);
      if (end < 0) throw new Error(`wit line ${line}: unterminated comment`);
      for (let k = i; k < end; k++) if (src[k] === "\n") line++;
      i = end + 2;
      continue;
    }
    if (src.startsWith("->", i)) { out.push({ text: "->", line }); i += 2; continue; }
    if ("{}()<>,;:=@/.*_".includes(c)) { out.push({ text: c, line }); i++; continue; }
    const m = /^%?[a-z0-9][a-z0-9-]*/i.exec(src.slice(i));
    if (!m) throw new Error(`wit line ${line}: unexpected ${JSON.stringify(c)}`);
    out.push({ text: m[0], line });
    i += m[0].length;
  }
  return out;
}

/** Parses wit text; throws with the line of the first thing outside the subset. */
export function parseWit(src: string): WitPackage {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p]?.text;
  const fail = (what: string): never => { throw new Error(`wit line ${toks[p]?.line ?? "end"}: ${what}, found ${JSON.stringify(peek() ?? "end of file")}`); };
  const take = (text: string) => { if (peek() !== text) fail(`expected ${JSON.stringify(text)}`); p++; };
  const ident = (): string => {
    const t = peek();
    if (t === undefined) return fail("expected a name");
    const escaped = t.startsWith("%");
    const name = escaped ? t.slice(1) : t;
    if (!IDENT.test(name)) fail("expected a kebab-case name");
    if (!escaped && KEYWORDS.has(name)) fail(`${name} is a keyword: write %${name}`);
    p++;
    return name;
  };

  take("package");
  const namespace = ident();
  take(":");
  const pkgName = ident();
  take("@");
  let version = "";
  while (peek() !== ";") { if (peek() === undefined) fail("expected ;"); version += toks[p++].text; }
  if (!/^\d+\.\d+\.\d+$/.test(version)) fail(`a semver version, not ${version}`);
  take(";");

  const interfaces = new Map<string, WitInterface>();
  const worlds = new Map<string, WitWorld>();

  const type = (iface: WitInterface): WitType => {
    const t = peek();
    if (t === "list" || t === "option") {
      p++; take("<"); const of = type(iface); take(">");
      return { kind: t, of };
    }
    if (t === "result") {
      p++;
      if (peek() !== "<") return { kind: "result", ok: null, err: null };
      take("<");
      let ok: WitType | null = null;
      if (peek() === "_") p++; else ok = type(iface);
      let err: WitType | null = null;
      if (peek() === ",") { p++; err = type(iface); } else if (ok === null) fail("result<_> needs an error type");
      take(">");
      return { kind: "result", ok, err };
    }
    if (t === "tuple") {
      p++; take("<");
      const of = [type(iface)];
      while (peek() === ",") { p++; of.push(type(iface)); }
      take(">");
      return { kind: "tuple", of };
    }
    if (t !== undefined && PRIMS.has(t)) { p++; return { kind: "prim", name: t }; }
    const name = ident();
    if (!iface.types.has(name)) fail(`unknown type ${name}`);
    return { kind: "named", name };
  };

  const fields = (iface: WitInterface, close: string): WitParam[] => {
    const out: WitParam[] = [];
    while (peek() !== close) {
      const name = ident();
      if (out.some((f) => f.name === name)) fail(`duplicate name ${name}`);
      take(":");
      out.push({ name, type: type(iface) });
      if (peek() === ",") p++; else break;
    }
    take(close);
    return out;
  };

  while (p < toks.length) {
    const kw = peek();
    if (kw === "interface") {
      p++;
      const name = ident();
      if (interfaces.has(name)) fail(`duplicate interface ${name}`);
      const iface: WitInterface = { name, types: new Map(), funcs: [] };
      take("{");
      while (peek() !== "}") {
        const item = peek();
        if (item === "enum") {
          p++;
          const tname = ident();
          take("{");
          const cases: string[] = [];
          while (peek() !== "}") { const c = ident(); if (cases.includes(c)) fail(`duplicate case ${c}`); cases.push(c); if (peek() === ",") p++; else break; }
          take("}");
          if (cases.length === 0) fail("an enum needs a case");
          if (iface.types.has(tname)) fail(`duplicate type ${tname}`);
          iface.types.set(tname, { kind: "enum", name: tname, cases });
        } else if (item === "record") {
          p++;
          const tname = ident();
          take("{");
          if (iface.types.has(tname)) fail(`duplicate type ${tname}`);
          const fs = fields(iface, "}");
          if (fs.length === 0) fail("a record needs a field");
          iface.types.set(tname, { kind: "record", name: tname, fields: fs });
        } else {
          const fname = ident();
          if (iface.funcs.some((f) => f.name === fname)) fail(`duplicate function ${fname}`);
          take(":");
          take("func");
          take("(");
          const params = fields(iface, ")");
          let result: WitType | null = null;
          if (peek() === "->") { p++; result = type(iface); }
          take(";");
          iface.funcs.push({ name: fname, params, result });
        }
      }
      take("}");
      interfaces.set(name, iface);
    } else if (kw === "world") {
      p++;
      const name = ident();
      const world: WitWorld = { name, imports: [], exports: [] };
      take("{");
      while (peek() !== "}") {
        const dir = peek();
        if (dir !== "import" && dir !== "export") fail("expected import or export");
        p++;
        const target = ident();
        if (!interfaces.has(target)) fail(`no interface ${target}`);
        take(";");
        (dir === "import" ? world.imports : world.exports).push(target);
      }
      take("}");
      worlds.set(name, world);
    } else fail("expected interface or world");
  }
  return { namespace, name: pkgName, version, interfaces, worlds };
}

// ---- Text of a type, as ABI.md writes it (the WIT spelling, one space after each comma).

export function typeText(t: WitType): string {
  switch (t.kind) {
    case "prim": return t.name;
    case "named": return t.name;
    case "list": return `list<${typeText(t.of)}>`;
    case "option": return `option<${typeText(t.of)}>`;
    case "tuple": return `tuple<${t.of.map(typeText).join(", ")}>`;
    case "result": return t.ok === null && t.err === null ? "result" : `result<${t.ok ? typeText(t.ok) : "_"}${t.err ? `, ${typeText(t.err)}` : ""}>`;
  }
}
export const funcText = (f: WitFunc): string =>
  `func(${f.params.map((x) => `${x.name}: ${typeText(x.type)}`).join(", ")})${f.result ? ` -> ${typeText(f.result)}` : ""}`;

// ---- The canonical ABI's flattening.

type Flat = "i32" | "i64" | "f32" | "f64";

function join(a: Flat, b: Flat): Flat {
  if (a === b) return a;
  if ((a === "i32" && b === "f32") || (a === "f32" && b === "i32")) return "i32";
  return "i64";
}

function flattenVariant(cases: (WitType | null)[], iface: WitInterface): Flat[] {
  const flat: Flat[] = [];
  for (const c of cases) {
    if (!c) continue;
    flattenType(c, iface).forEach((f, i) => { flat[i] = i < flat.length ? join(flat[i], f) : f; });
  }
  return ["i32", ...flat];
}

export function flattenType(t: WitType, iface: WitInterface): Flat[] {
  switch (t.kind) {
    case "prim":
      if (t.name === "u64" || t.name === "s64") return ["i64"];
      if (t.name === "f32" || t.name === "f64") return [t.name];
      if (t.name === "string") return ["i32", "i32"];
      return ["i32"];
    case "list": return ["i32", "i32"];
    case "tuple": return t.of.flatMap((x) => flattenType(x, iface));
    case "option": return flattenVariant([null, t.of], iface);
    case "result": return flattenVariant([t.ok, t.err], iface);
    case "named": {
      const def = iface.types.get(t.name)!;
      if (def.kind === "enum") return ["i32"];
      return def.fields.flatMap((f) => flattenType(f.type, iface));
    }
  }
}

export interface CoreSignature { params: string[]; results: string[] }

/** A function's core-wasm signature: "lift" for an export, "lower" for an import. */
export function lowerFunc(f: WitFunc, iface: WitInterface, context: "lift" | "lower"): CoreSignature {
  let params: string[] = f.params.flatMap((x) => flattenType(x.type, iface));
  let results: string[] = f.result ? flattenType(f.result, iface) : [];
  if (params.length > 16) params = ["i32"];
  if (results.length > 1) {
    if (context === "lift") results = ["i32"];
    else { params = [...params, "i32"]; results = []; }
  }
  return { params, results };
}

// ---- Sizes and alignments (for return areas).

export function alignment(t: WitType, iface: WitInterface): number {
  switch (t.kind) {
    case "prim": return ({ bool: 1, u8: 1, s8: 1, u16: 2, s16: 2, u64: 8, s64: 8, f64: 8 } as Record<string, number>)[t.name] ?? 4;
    case "list": return 4;
    case "tuple": return Math.max(...t.of.map((x) => alignment(x, iface)));
    case "option": return Math.max(1, alignment(t.of, iface));
    case "result": return Math.max(1, ...[t.ok, t.err].filter((x): x is WitType => x !== null).map((x) => alignment(x, iface)));
    case "named": {
      const def = iface.types.get(t.name)!;
      return def.kind === "enum" ? (def.cases.length <= 256 ? 1 : 2) : Math.max(...def.fields.map((f) => alignment(f.type, iface)));
    }
  }
}

const alignTo = (n: number, a: number) => Math.ceil(n / a) * a;

export function size(t: WitType, iface: WitInterface): number {
  switch (t.kind) {
    case "prim": return ({ bool: 1, u8: 1, s8: 1, u16: 2, s16: 2, u64: 8, s64: 8, f64: 8 } as Record<string, number>)[t.name] ?? (t.name === "string" ? 8 : 4);
    case "list": return 8;
    case "tuple": return recordSize(t.of, iface);
    case "option": return variantSize([null, t.of], iface);
    case "result": return variantSize([t.ok, t.err], iface);
    case "named": {
      const def = iface.types.get(t.name)!;
      return def.kind === "enum" ? (def.cases.length <= 256 ? 1 : 2) : recordSize(def.fields.map((f) => f.type), iface);
    }
  }
}

function recordSize(types: WitType[], iface: WitInterface): number {
  let s = 0;
  for (const t of types) s = alignTo(s, alignment(t, iface)) + size(t, iface);
  return alignTo(s, Math.max(1, ...types.map((t) => alignment(t, iface))));
}

function variantSize(cases: (WitType | null)[], iface: WitInterface): number {
  const present = cases.filter((c): c is WitType => c !== null);
  const payloadAlign = Math.max(1, ...present.map((c) => alignment(c, iface)));
  const payload = Math.max(0, ...present.map((c) => size(c, iface)));
  return alignTo(alignTo(1, payloadAlign) + payload, payloadAlign);
}

// ---- Loading a value from memory as the canonical ABI lays it out (`load` in CanonicalABI.md),
// for checking the host's hand-written lifting against the layout the WIT implies.

export type Loaded = number | null | Uint8Array | Loaded[] | { ok: Loaded } | { err: Loaded } | { [field: string]: Loaded };

export function load(mem: Uint8Array, ptr: number, t: WitType, iface: WitInterface): Loaded {
  const v = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  switch (t.kind) {
    case "prim":
      switch (t.name) {
        case "bool": case "u8": return v.getUint8(ptr);
        case "s8": return v.getInt8(ptr);
        case "u16": return v.getUint16(ptr, true);
        case "s16": return v.getInt16(ptr, true);
        case "u32": case "char": return v.getUint32(ptr, true);
        case "s32": return v.getInt32(ptr, true);
        case "f32": return v.getFloat32(ptr, true);
        case "f64": return v.getFloat64(ptr, true);
        case "u64": return Number(v.getBigUint64(ptr, true));
        case "s64": return Number(v.getBigInt64(ptr, true));
        default: throw new Error(`no load for ${t.name}`);
      }
    case "list": {
      const p = v.getUint32(ptr, true), n = v.getUint32(ptr + 4, true);
      if (typeText(t.of) === "u8") return mem.slice(p, p + n);
      const stride = alignTo(size(t.of, iface), alignment(t.of, iface));
      return Array.from({ length: n }, (_, i) => load(mem, p + i * stride, t.of, iface));
    }
    case "tuple": return fieldsAt(mem, ptr, t.of, iface);
    case "option": {
      const tag = v.getUint8(ptr);
      if (tag > 1) throw new Error(`option tag ${tag}`);
      return tag === 0 ? null : load(mem, ptr + payloadOffset([null, t.of], iface), t.of, iface);
    }
    case "result": {
      const tag = v.getUint8(ptr);
      if (tag > 1) throw new Error(`result tag ${tag}`);
      const at = ptr + payloadOffset([t.ok, t.err], iface);
      const c = tag === 0 ? t.ok : t.err;
      const value = c ? load(mem, at, c, iface) : null;
      return tag === 0 ? { ok: value } : { err: value };
    }
    case "named": {
      const def = iface.types.get(t.name)!;
      if (def.kind === "enum") return v.getUint8(ptr);
      const values = fieldsAt(mem, ptr, def.fields.map((f) => f.type), iface);
      return Object.fromEntries(def.fields.map((f, i) => [f.name, values[i]]));
    }
  }
}

function fieldsAt(mem: Uint8Array, ptr: number, types: WitType[], iface: WitInterface): Loaded[] {
  let at = 0;
  return types.map((t) => { at = alignTo(at, alignment(t, iface)); const x = load(mem, ptr + at, t, iface); at += size(t, iface); return x; });
}

function payloadOffset(cases: (WitType | null)[], iface: WitInterface): number {
  return alignTo(1, Math.max(1, ...cases.filter((c): c is WitType => c !== null).map((c) => alignment(c, iface))));
}
