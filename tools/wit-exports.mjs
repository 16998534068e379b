// wit-exports: gives core.wasm's exports their canonical-ABI names after asc has built it.
//
// AssemblyScript cannot export a function under a name like "wasphere:core/fs@0.1.0#fs-open",
// so the core's sources export `fs_open` and this step rewrites the export section: a name
// starting `fs_` belongs to the world's `fs` interface, any other function to `kernel`;
// underscores become dashes. `memory` and `cabi_realloc` keep their names (the canonical ABI's).
// The package and version come from wit/wasphere.wit's `package` line. This is a mechanical
// rename: tests/host/wit.test checks the result against the WIT, signature by signature.
// Must not: touch any section but the export section.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** "wasphere:core" and "0.1.0" from the WIT's package line. */
export function witPackage(witText = readFileSync(join(root, "wit/wasphere.wit"), "utf8")) {
  const m = /^package\s+([a-z][a-z0-9-]*:[a-z][a-z0-9-]*)@([0-9A-Za-z.+-]+)\s*;/m.exec(witText);
  if (!m) throw new Error("wit/wasphere.wit: no `package ns:name@version;` line");
  return { name: m[1], version: m[2] };
}

/** The canonical-ABI export name of an AssemblyScript export. */
export function canonicalExportName(asName, pkg = witPackage()) {
  if (asName === "memory" || asName === "cabi_realloc") return asName;
  const iface = asName.startsWith("fs_") ? "fs" : "kernel";
  return `${pkg.name}/${iface}@${pkg.version}#${asName.replace(/_/g, "-")}`;
}

const leb = (n) => { const out = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n); return out; };

/** The module with its export section rewritten by `rename` (name -> name). */
export function renameExports(bytes, rename) {
  let pos = 8;
  const u32 = () => { let r = 0, s = 0, b; do { b = bytes[pos++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
  const parts = [bytes.subarray(0, 8)];
  const enc = new TextEncoder(), dec = new TextDecoder();
  while (pos < bytes.length) {
    const start = pos;
    const id = bytes[pos++];
    const size = u32();
    const end = pos + size;
    if (id !== 7) { parts.push(bytes.subarray(start, end)); pos = end; continue; }
    const body = [];
    const count = u32();
    body.push(...leb(count));
    for (let i = 0; i < count; i++) {
      const len = u32();
      const name = dec.decode(bytes.subarray(pos, pos + len));
      pos += len;
      const kind = bytes[pos++];
      const index = u32();
      const renamed = enc.encode(kind === 0 ? rename(name) : name);
      body.push(...leb(renamed.length), ...renamed, kind, ...leb(index));
    }
    if (pos !== end) throw new Error("export section: trailing bytes");
    parts.push(Uint8Array.from([7, ...leb(body.length), ...body]));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Rewrites the core module at `path` in place. */
export function giveCanonicalNames(path) {
  const pkg = witPackage();
  writeFileSync(path, renameExports(new Uint8Array(readFileSync(path)), (n) => canonicalExportName(n, pkg)));
}
