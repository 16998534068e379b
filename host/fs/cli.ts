// `wasphere fs ...`: littlefs images on the host's disk, read and written through core.wasm.
//
// Every verb loads the whole image into a RAM Flash, mounts it with a fresh core, works on that
// copy and, for the verbs that change it, writes the file back only after the work succeeded and
// the file system unmounted cleanly. So a failing command leaves the image byte-identical.
// Errors are one line on stderr and exit code 1; never a stack trace.
// Memory: one copy of the image plus one core instance (4 MiB) per command.
// Must not: parse littlefs structures itself beyond the superblock geometry (image.ts); the core
// is the only littlefs implementation.
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { Flash } from "../flash.js";
import { FsConfig, FsError, LittleFs } from "./littlefs.js";
import { detectGeometry, findSuperblock, FsGeometry, GeometryOptions, ImageError, loadImage, saveImage } from "./image.js";

/** A file-system error from the core: a negative littlefs errno in `.code`. */
export function fsErrorCode(err: unknown): number | null {
  return err instanceof FsError ? err.code : null;
}

/** A user-facing failure: printed as one line, exit code 1. */
export class FsCliError extends Error {}

const ERRNO_TEXT: Record<number, string> = {
  [-2]: "no such file or directory",
  [-5]: "device I/O error",
  [-9]: "bad file handle",
  [-12]: "out of core memory",
  [-17]: "already exists",
  [-20]: "not a directory",
  [-21]: "is a directory",
  [-22]: "invalid argument",
  [-27]: "file too large",
  [-28]: "no space left on the image",
  [-36]: "name too long",
  [-38]: "not supported by the core yet",
  [-39]: "directory not empty",
  [-61]: "no such attribute",
  [-84]: "file system is corrupt",
};

export function errnoText(code: number): string {
  return ERRNO_TEXT[code] ?? `error ${code}`;
}

function describe(err: unknown): string {
  const code = fsErrorCode(err);
  if (code !== null) return errnoText(code);
  return (err as Error)?.message ?? String(err);
}

/** What a verb failed at, with the file-system error, in one line. */
function fail(where: string, err: unknown): never {
  if (err instanceof FsCliError || err instanceof ImageError) throw err;
  throw new FsCliError(`${where}: ${describe(err).split("\n")[0]}`);
}

// ---- the tree ---------------------------------------------------------------------------------

export type EntryType = "file" | "dir";
export interface TreeEntry {
  path: string;
  type: EntryType;
  size?: number;
  sha256?: string;
  attrs?: Record<string, string>;
}
export interface Listing {
  root_attrs: Record<string, string>;
  tree: TreeEntry[];
}

function entryType(type: "file" | "dir"): EntryType {
  return type;
}

function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Every user attribute of `path` (types 0..255), as the fixture manifests write them. */
export function readAttrs(lfs: LittleFs, path: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  // One listing of the present types, then a getattr for each, instead of probing all 256.
  for (const type of lfs.listattrs(path)) {
    let value: Uint8Array | null;
    try {
      value = lfs.getattr(path, type);
    } catch (err) {
      if (fsErrorCode(err) === -61) continue;
      throw err;
    }
    if (value) attrs[String(type)] = hex(value);
  }
  return attrs;
}

/** The whole tree, depth first, in readdir order, with content hashes and attributes. */
export function listTree(lfs: LittleFs, withContent = true): Listing {
  const tree: TreeEntry[] = [];
  const walk = (dir: string, depth: number) => {
    // Depth is bounded by name_max-sized path components in a finite image; a loop in the
    // metadata would be the core's CORRUPT, but guard the host against a runaway walk too.
    if (depth > 256) throw new FsCliError(`${dir}: directory nesting deeper than 256; corrupt`);
    for (const ent of lfs.readdir(dir)) {
      if (ent.name === "." || ent.name === "..") continue;
      const path = joinPath(dir, ent.name);
      const type = entryType(ent.type);
      const e: TreeEntry = { path, type };
      if (type === "file") {
        e.size = ent.size;
        if (withContent) {
          const data = lfs.readFile(path);
          if (data.length !== ent.size) throw new FsCliError(`${path}: read ${data.length} bytes, directory entry says ${ent.size}`);
          e.sha256 = createHash("sha256").update(data).digest("hex");
        }
      }
      const attrs = readAttrs(lfs, path);
      if (Object.keys(attrs).length) e.attrs = attrs;
      tree.push(e);
      if (type === "dir") walk(path, depth + 1);
    }
  };
  walk("/", 0);
  return { root_attrs: readAttrs(lfs, "/"), tree };
}

// ---- sessions: an image file, mounted -----------------------------------------------------------

interface GeometryFlags {
  blockSize?: number;
  blockCount?: number;
  readSize?: number;
  progSize?: number;
  cacheSize?: number;
  lookaheadSize?: number;
  blockCycles?: number;
}

function geometryFlags(opts: GeometryFlags): GeometryOptions {
  const { blockSize, blockCount, readSize, progSize, cacheSize, lookaheadSize, blockCycles } = opts;
  return { blockSize, blockCount, readSize, progSize, cacheSize, lookaheadSize, blockCycles };
}

export function mountConfig(g: FsGeometry): FsConfig {
  return {
    blockSize: g.blockSize,
    blockCount: g.blockCount,
    readSize: g.readSize,
    progSize: g.progSize,
    cacheSize: g.cacheSize,
    lookaheadSize: g.lookaheadSize,
    blockCycles: g.blockCycles,
  };
}

/**
 * Mounts a copy of IMAGE and runs `work` on it. With `write`, the copy replaces the file after
 * `work` returned and the unmount succeeded; on any failure the file is untouched.
 */
async function withImage<T>(image: string, opts: GeometryFlags, write: boolean, work: (lfs: LittleFs, g: FsGeometry) => T | Promise<T>): Promise<T> {
  const bytes = loadImage(image);
  // The file is replaced by a rename, which a read-only file would not stop: ask first.
  if (write) {
    try { accessSync(image, constants.W_OK); } catch { throw new FsCliError(`${image}: read-only; not changed`); }
  }
  const geometry = detectGeometry(image, bytes, geometryFlags(opts));
  const flash = new Flash({ blockSizeBytes: geometry.blockSize, blockCount: geometry.blockCount }, bytes);
  let lfs: LittleFs;
  try {
    lfs = LittleFs.mount(flash, mountConfig(geometry));
  } catch (err) {
    fail(`${image}: cannot mount`, err);
  }
  let result: T;
  try {
    result = await work(lfs, geometry);
  } catch (err) {
    try { lfs.unmount(); } catch { /* the failure above is the one to report */ }
    throw err;
  }
  try {
    lfs.unmount();
  } catch (err) {
    fail(`${image}: unmount failed`, err);
  }
  if (write) saveImage(image, flash.bytes);
  return result;
}

// ---- argument parsing -------------------------------------------------------------------------

function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be an integer`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`);
    return n;
  };
}

function attrType(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 255) throw new FsCliError(`attribute type must be 0..255, got "${value}"`);
  return Number(value);
}

function hexBytes(value: string): Uint8Array {
  const v = value.startsWith("0x") ? value.slice(2) : value;
  if (v.length % 2 || !/^[0-9a-fA-F]*$/.test(v)) throw new FsCliError(`attribute value must be hex bytes (an even number of 0-9a-f digits), got "${value}"`);
  return new Uint8Array(Buffer.from(v, "hex"));
}

function fsPath(value: string): string {
  if (!value.startsWith("/")) value = "/" + value;
  if (value.length > 1 && value.endsWith("/")) value = value.replace(/\/+$/, "");
  return value;
}

const GEOMETRY_HELP = `
Geometry: --block-size and --block-count are read from the image's superblock when not given;
the other settings are not stored on disk and default to read/prog 16, cache min(block size, 256),
lookahead 16, block cycles 500 (-1 disables wear leveling).`;

function withGeometry(cmd: Command): Command {
  return cmd
    .option("--block-size <bytes>", "block size (default: from the superblock)", intArg("--block-size", 128, 1 << 20))
    .option("--block-count <blocks>", "block count (default: image size / block size)", intArg("--block-count", 2, 1 << 24))
    .option("--read-size <bytes>", "minimum read size", intArg("--read-size", 1, 1 << 20))
    .option("--prog-size <bytes>", "minimum program size", intArg("--prog-size", 1, 1 << 20))
    .option("--cache-size <bytes>", "read/program cache size", intArg("--cache-size", 1, 1 << 20))
    .option("--lookahead-size <bytes>", "allocator lookahead buffer size", intArg("--lookahead-size", 1, 1 << 20))
    .option("--block-cycles <n>", "erase cycles before a metadata pair moves (-1: off)", intArg("--block-cycles", -1, 1 << 30))
    .addHelpText("after", GEOMETRY_HELP);
}

// ---- the verbs --------------------------------------------------------------------------------

function printTree(listing: Listing): string {
  const lines: string[] = [];
  const attrText = (a?: Record<string, string>) => (a && Object.keys(a).length ? `  attrs ${Object.keys(a).join(",")}` : "");
  if (Object.keys(listing.root_attrs).length) lines.push(`d ${"-".padStart(10)}  /${attrText(listing.root_attrs)}`);
  for (const e of listing.tree) {
    lines.push(`${e.type === "dir" ? "d" : "f"} ${(e.type === "dir" ? "-" : String(e.size)).padStart(10)}  ${e.path}${attrText(e.attrs)}`);
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

function removeTree(lfs: LittleFs, path: string): void {
  const st = lfs.stat(path);
  if (entryType(st.type) === "dir") {
    for (const ent of lfs.readdir(path)) {
      if (ent.name === "." || ent.name === "..") continue;
      removeTree(lfs, joinPath(path, ent.name));
    }
  }
  lfs.remove(path);
}

const pairText = (a: number, b: number) => `{${a}, ${b}}`;
const u32Hex = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

/** The core's structural fault (fs_check) as one line. */
export function checkFaultText(fault: number, d: number[]): string {
  switch (fault) {
    case 1: return `the metadata list loops or is longer than the device (at ${pairText(d[0], d[1])})`;
    case 2: return `block ${d[0]} lies past the end of the device (named by ${pairText(d[1], d[2])})`;
    case 3: return `block ${d[0]} is used twice (second use by ${pairText(d[1], d[2])})`;
    case 4: return d[2] === 0xffffffff
      ? `the root pair ${pairText(d[0], d[1])} is not in the metadata list`
      : `directory pair ${pairText(d[0], d[1])} (entry ${d[3]} of pair ${d[2]}) is not in the metadata list`;
    case 5: return `directory pair ${pairText(d[0], d[1])} is named by two entries (again by entry ${d[3]} of pair ${d[2]})`;
    case 6: return `metadata pair ${pairText(d[0], d[1])} heads a directory no entry names (an orphan)`;
    case 7: return `metadata pair ${pairText(d[0], d[1])} is empty in the middle of a directory (after ${pairText(d[2], d[3])})`;
    case 8: return `gstate holds a pending move (${u32Hex(d[0])} in ${pairText(d[1], d[2])}) after unmount`;
    case 9: return `gstate is not clean after unmount (${u32Hex(d[0])} ${u32Hex(d[1])} ${u32Hex(d[2])}: orphans)`;
    case 10: return `directory pair ${pairText(d[0], d[1])} is listed under stale blocks ${pairText(d[2], d[3])} (a half-orphan)`;
    case 11: return `directory pair ${pairText(d[0], d[1])} (entry ${d[3]} of pair ${d[2]}) lies inside another directory's chain`;
    case 12: return `metadata pair ${pairText(d[0], d[1])} cannot be read (error ${d[2] | 0})`;
    default: return `structural fault ${fault}`;
  }
}

/**
 * `fs check`: the core's structural check (metadata list, directory chains, blocks used once and
 * in range, clean gstate unless `powerLoss`), then everything reachable is read once; returns a
 * summary or throws naming the fault.
 */
export function checkFs(lfs: LittleFs, label: string, powerLoss = false) {
  let structure: { fault: number; detail: number[] };
  try {
    structure = lfs.checkStructure(powerLoss);
  } catch (err) {
    fail(`${label}: corrupt: structural check failed`, err);
  }
  if (structure.fault) throw new FsCliError(`${label}: corrupt: ${checkFaultText(structure.fault, structure.detail)}`);
  let blocks: number;
  try {
    blocks = lfs.traverse();
  } catch (err) {
    fail(`${label}: corrupt: traversal failed`, err);
  }
  let listing: Listing;
  try {
    listing = listTree(lfs, true);
  } catch (err) {
    fail(`${label}: corrupt`, err);
  }
  let files = 0, dirs = 0, bytes = 0, attrs = Object.keys(listing.root_attrs).length;
  for (const e of listing.tree) {
    if (e.type === "dir") dirs++;
    else { files++; bytes += e.size ?? 0; }
    attrs += Object.keys(e.attrs ?? {}).length;
  }
  return { blocks, files, dirs, bytes, attrs };
}

export function registerFsCommands(program: Command): void {
  const fs = program
    .command("fs")
    .description("work with littlefs images through the core (mkfs, ls, get, put, ...)");

  const action = <A extends unknown[]>(fn: (...args: A) => Promise<void> | void) => async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const message = err instanceof FsCliError || err instanceof ImageError ? err.message : `fs: ${describe(err)}`;
      process.stderr.write(`wasphere: ${message.split("\n")[0]}\n`);
      process.exitCode = 1;
    }
  };

  withGeometry(fs.command("mkfs").argument("<image>").description("create IMAGE and format it (overwrites the file)"))
    .action(action(async (image: string, opts: GeometryFlags) => {
      if (!opts.blockSize || !opts.blockCount) throw new FsCliError("mkfs needs --block-size and --block-count");
      const geometry = detectGeometry(image, new Uint8Array(opts.blockSize * opts.blockCount), geometryFlags(opts));
      const flash = new Flash({ blockSizeBytes: geometry.blockSize, blockCount: geometry.blockCount });
      try {
        await LittleFs.format(flash, mountConfig(geometry));
        const lfs = LittleFs.mount(flash, mountConfig(geometry));
        lfs.unmount();
      } catch (err) {
        fail(`${image}: format failed`, err);
      }
      saveImage(image, flash.bytes);
    }));

  withGeometry(fs.command("ls").argument("<image>").option("--json", "print JSON (see below)"))
    .description("list the whole tree, depth first, in readdir order")
    .addHelpText("after", `
With --json, one object: {"root_attrs": {TYPE: HEX}, "tree": [ENTRY, ...]}, where ENTRY is
{"path": "/a/b", "type": "file"|"dir", "size": N, "sha256": HEX, "attrs": {TYPE: HEX}}. TYPE is the
attribute type in decimal ("0".."255"), HEX its value in lowercase hex ("" when empty). Directories
have no size or sha256; entries without attributes have no attrs. This is the shape of the
"root_attrs" and "tree" fields of the littlefs fixture manifests.`)
    .action(action(async (image: string, opts: GeometryFlags & { json?: boolean }) => {
      const listing = await withImage(image, opts, false, (lfs) => {
        try { return listTree(lfs, !!opts.json); } catch (err) { fail(image, err); }
      });
      process.stdout.write(opts.json ? JSON.stringify(listing, null, 1) + "\n" : printTree(listing));
    }));

  withGeometry(fs.command("get").argument("<image>").argument("<path>"))
    .description("write the bytes of file PATH to stdout")
    .action(action(async (image: string, path: string, opts: GeometryFlags) => {
      const data = await withImage(image, opts, false, (lfs) => {
        try { return lfs.readFile(fsPath(path)); } catch (err) { fail(`${image}: ${fsPath(path)}`, err); }
      });
      await new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
    }));

  withGeometry(fs.command("put").argument("<image>").argument("<hostfile>").argument("<path>"))
    .description("copy HOSTFILE into the image as PATH (replacing an existing file)")
    .action(action(async (image: string, hostFile: string, path: string, opts: GeometryFlags) => {
      if (!existsSync(hostFile)) throw new FsCliError(`${hostFile}: no such file`);
      let data: Uint8Array;
      try { data = new Uint8Array(readFileSync(hostFile)); } catch (err) { throw new FsCliError(`${hostFile}: cannot read (${(err as Error).message})`); }
      await withImage(image, opts, true, (lfs) => {
        try { lfs.writeFile(fsPath(path), data); } catch (err) { fail(`${image}: ${fsPath(path)}`, err); }
      });
    }));

  withGeometry(fs.command("mkdir").argument("<image>").argument("<path>"))
    .description("create directory PATH (its parent must exist)")
    .action(action(async (image: string, path: string, opts: GeometryFlags) => {
      await withImage(image, opts, true, (lfs) => {
        try { lfs.mkdir(fsPath(path)); } catch (err) { fail(`${image}: ${fsPath(path)}`, err); }
      });
    }));

  withGeometry(fs.command("rm").argument("<image>").argument("<path>").option("-r, --recursive", "remove a directory and everything in it"))
    .description("remove file or empty directory PATH")
    .action(action(async (image: string, path: string, opts: GeometryFlags & { recursive?: boolean }) => {
      const p = fsPath(path);
      if (p === "/") throw new FsCliError(`${image}: /: the root directory cannot be removed`);
      await withImage(image, opts, true, (lfs) => {
        try { opts.recursive ? removeTree(lfs, p) : lfs.remove(p); } catch (err) { fail(`${image}: ${p}`, err); }
      });
    }));

  withGeometry(fs.command("mv").argument("<image>").argument("<from>").argument("<to>"))
    .description("rename FROM to TO, within or across directories (replaces a file or an empty directory at TO)")
    .action(action(async (image: string, from: string, to: string, opts: GeometryFlags) => {
      await withImage(image, opts, true, (lfs) => {
        try { lfs.rename(fsPath(from), fsPath(to)); } catch (err) { fail(`${image}: ${fsPath(from)} -> ${fsPath(to)}`, err); }
      });
    }));

  withGeometry(fs.command("setattr").argument("<image>").argument("<path>").argument("<type>").argument("<hex>"))
    .description('set user attribute TYPE (0..255) of PATH to the bytes HEX ("" for an empty attribute)')
    .action(action(async (image: string, path: string, type: string, value: string, opts: GeometryFlags) => {
      const t = attrType(type);
      const bytes = hexBytes(value);
      await withImage(image, opts, true, (lfs) => {
        try { lfs.setattr(fsPath(path), t, bytes); } catch (err) { fail(`${image}: ${fsPath(path)}: attribute ${t}`, err); }
      });
    }));

  withGeometry(fs.command("getattr").argument("<image>").argument("<path>").argument("<type>"))
    .description("print user attribute TYPE of PATH as lowercase hex")
    .action(action(async (image: string, path: string, type: string, opts: GeometryFlags) => {
      const t = attrType(type);
      const value = await withImage(image, opts, false, (lfs) => {
        let v: Uint8Array | null;
        try { v = lfs.getattr(fsPath(path), t); } catch (err) { fail(`${image}: ${fsPath(path)}: attribute ${t}`, err); }
        if (!v) throw new FsCliError(`${image}: ${fsPath(path)}: attribute ${t}: ${errnoText(-61)}`);
        return v;
      });
      process.stdout.write(hex(value) + "\n");
    }));

  withGeometry(fs.command("info").argument("<image>").option("--json", "print JSON"))
    .description("superblock: disk version, geometry, limits, blocks in use")
    .action(action(async (image: string, opts: GeometryFlags & { json?: boolean }) => {
      const info = await withImage(image, opts, false, (lfs, g) => {
        try {
          const fi = lfs.fsinfo() as unknown as Record<string, number>;
          const sb = findSuperblock(loadImage(image), g.blockSize);
          const version = fi.diskVersion ?? fi.disk_version ?? fi.version ?? sb?.version ?? 0;
          return {
            version: `${version >>> 16}.${version & 0xffff}`,
            block_size: fi.blockSize ?? fi.block_size ?? g.blockSize,
            block_count: fi.blockCount ?? fi.block_count ?? g.blockCount,
            name_max: fi.nameMax ?? fi.name_max ?? sb?.nameMax,
            file_max: fi.fileMax ?? fi.file_max ?? sb?.fileMax,
            attr_max: fi.attrMax ?? fi.attr_max ?? sb?.attrMax,
            blocks_in_use: lfs.sizeBlocks(),
            image_bytes: g.blockSize * g.blockCount,
          };
        } catch (err) { fail(image, err); }
      });
      if (opts.json) process.stdout.write(JSON.stringify(info) + "\n");
      else {
        process.stdout.write(
          `littlefs ${info.version}, ${info.block_count} blocks of ${info.block_size} bytes (${info.image_bytes} bytes)\n` +
          `blocks in use: ${info.blocks_in_use} of ${info.block_count}\n` +
          `limits: name ${info.name_max} bytes, file ${info.file_max} bytes, attribute ${info.attr_max} bytes\n`,
        );
      }
    }));

  withGeometry(fs.command("check").argument("<image>")
    .option("--power-loss", "the image may have been cut by power loss: accept a pending move and the orphans the gstate announces"))
    .description("mount, check the metadata list, directories, blocks and gstate, read every file and attribute; exit 1 on any fault")
    .action(action(async (image: string, opts: GeometryFlags & { powerLoss?: boolean }) => {
      const r = await withImage(image, opts, false, (lfs) => checkFs(lfs, image, !!opts.powerLoss));
      process.stdout.write(`${image}: ok: ${r.dirs} directories, ${r.files} files, ${r.bytes} bytes, ${r.attrs} attributes, ${r.blocks} blocks traversed\n`);
    }));
}

