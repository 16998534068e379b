// LittleFs: littlefs images through the core's fs_* exports (ABI.md, "File-system exports").
//
// One core instance per LittleFs, wired to a Flash (host/flash.ts) as its only peripheral; mountAt
// gives more mounts of the same flash in that core (one LittleFs object each, sharing it). All
// file-system logic runs inside core.wasm; this class passes paths and data to the core's fs
// exports as lists (at most FS_CHUNK_BYTES per call) and turns negative results into FsError.
// Must not: interpret the on-disk format itself.
import { ModuleCore, coreModule, flashHal, type Core, type CoreExports } from "../core.js";
import { FS_IO_CHUNK_BYTES } from "../../assembly/abi.js";
import { Flash } from "../flash.js";

export const O_RDONLY = 1;
export const O_WRONLY = 2;
export const O_RDWR = 3;
export const O_CREAT = 0x0100;
export const O_EXCL = 0x0200;
export const O_TRUNC = 0x0400;
export const O_APPEND = 0x0800;

export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;

export const FS_ERRORS: Record<number, string> = {
  [-2]: "ENOENT: no such file or directory",
  [-5]: "EIO: device error",
  [-9]: "EBADF: bad file descriptor",
  [-12]: "ENOMEM: out of memory (too many open files or directories?)",
  [-17]: "EEXIST: already exists",
  [-20]: "ENOTDIR: not a directory",
  [-21]: "EISDIR: is a directory",
  [-22]: "EINVAL: invalid argument",
  [-27]: "EFBIG: file too large",
  [-28]: "ENOSPC: no space left",
  [-30]: "EROFS: read-only file system",
  [-36]: "ENAMETOOLONG: name too long",
  [-38]: "ENOSYS: not implemented",
  [-39]: "ENOTEMPTY: directory not empty",
  [-61]: "ENODATA: no such attribute",
  [-84]: "ECORRUPT: the file system is corrupt",
};

export class FsError extends Error {
  constructor(public readonly code: number, op: string, path?: string) {
    super(`${op}${path !== undefined ? ` ${JSON.stringify(path)}` : ""}: ${FS_ERRORS[code] ?? `error ${code}`}`);
    this.name = "FsError";
  }
}

export interface FsConfig {
  blockSize: number;
  /** 0: take it from the superblock (mount only). */
  blockCount: number;
  readSize?: number;
  progSize?: number;
  cacheSize?: number;
  lookaheadSize?: number;
  /** Erase cycles before a metadata pair moves; -1 disables wear leveling of metadata. */
  blockCycles?: number;
  nameMax?: number;
  /** 0: littlefs's default, min(cache_size, attr_max, block_size/8). */
  inlineMax?: number;
}

export interface FsStat { type: "file" | "dir"; size: number }
export interface FsDirEntry { name: string; type: "file" | "dir"; size: number }
export interface FsInfo { diskVersion: number; blockSize: number; blockCount: number; nameMax: number; fileMax: number; attrMax: number }

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A mount as the core's mount table holds it (fs_mount_info). */
export interface FsMountInfo { baseBlock: number; blockCount: number; readOnly: boolean; mounted: boolean; owner: number; ramBytes: number }

/** The longest path, and the largest data chunk, one call passes (the core's fs limit). */
export const FS_CHUNK_BYTES = FS_IO_CHUNK_BYTES;

export class LittleFs {
  readonly core: Core;
  readonly flash: Flash;
  /** The core's mount id: 0 for the host mount, 1.. for those mountAt made. */
  readonly mountId: number;
  private readonly raw: CoreExports;
  private mounted = false;

  private constructor(flash: Flash, cfg: FsConfig | null, module?: WebAssembly.Module, beside?: { core: Core; mountId: number }) {
    this.flash = flash;
    this.core = beside?.core ?? new ModuleCore(flashHal(flash), module ?? coreModule());
    this.mountId = beside?.mountId ?? 0;
    this.raw = this.core.exports;
    if (cfg === null) return;
    const r = this.x.fs_config(cfg.blockSize, cfg.blockCount, cfg.readSize ?? 16, cfg.progSize ?? 16,
      cfg.cacheSize ?? 64, cfg.lookaheadSize ?? 16, cfg.blockCycles ?? 500, cfg.nameMax ?? 255, cfg.inlineMax ?? 0);
    this.check(r, "config");
  }

  /** Formats `flash` with a fresh, empty file system. */
  static async format(flash: Flash, cfg: FsConfig): Promise<void> {
    const fs = new LittleFs(flash, cfg);
    fs.check(fs.x.fs_format(), "format");
  }

  /** A core configured for `flash` whose host mount stays unmounted: images are mounted with mountAt. */
  static configure(flash: Flash, cfg: FsConfig): LittleFs { return new LittleFs(flash, cfg); }

  /** Mounts the file system on `flash`; throws FsError (e.g. -84 ECORRUPT) when it cannot. */
  static mount(flash: Flash, cfg: FsConfig): LittleFs {
    const fs = new LittleFs(flash, cfg);
    fs.check(fs.x.fs_mount(), "mount");
    fs.mounted = true;
    return fs;
  }

  /**
   * Mounts the littlefs image in flash blocks [baseBlock, baseBlock + blockCount) of the same flash,
   * in the same core, beside this one (fs_mount_at): several images on one flash at once. The
   * configuration is this one's; the image's block count comes from its superblock.
   */
  mountAt(baseBlock: number, blockCount: number, opts: { readOnly?: boolean; owner?: number } = {}): LittleFs {
    const id = this.check(this.raw.fs_mount_at(baseBlock, blockCount, opts.readOnly ? 1 : 0, opts.owner ?? -1), "mount_at");
    const fs = new LittleFs(this.flash, null, undefined, { core: this.core, mountId: id });
    fs.mounted = true;
    return fs;
  }

  /** The exports, with this mount selected: every fs_* call below works on it (fs_select). */
  private get x(): CoreExports {
    this.check(this.raw.fs_select(this.mountId), "select");
    return this.raw;
  }

  /** This mount's entry in the core's mount table. */
  mountInfo(): FsMountInfo {
    const r = this.ok(this.raw.fs_mount_info(this.mountId), "mount_info");
    return { baseBlock: r.baseBlock, blockCount: r.blockCount, readOnly: (r.mountFlags & 1) !== 0, mounted: (r.mountFlags & 2) !== 0, owner: r.owner, ramBytes: r.ramBytes };
  }

  /** The core RAM this mount holds: its record, caches, lookahead, open files' caches (fs_mount_ram_bytes). */
  mountRamBytes(): number { return this.check(this.raw.fs_mount_ram_bytes(this.mountId), "mount_ram_bytes"); }

  private check(r: number, op: string, path?: string): number {
    if (r < 0) throw new FsError(r, op, path);
    return r;
  }

  /** The value of a result<T, s32>, or FsError. */
  private ok<T>(r: T | number, op: string, path?: string): T {
    if (typeof r === "number") throw new FsError(r, op, path);
    return r;
  }

  private pathBytes(path: string): Uint8Array {
    const bytes = enc.encode(path);
    if (bytes.length > FS_CHUNK_BYTES) throw new FsError(-36, "path", path);
    return bytes;
  }

  /** Bytes one read or write moves at most. */
  get ioBytes(): number { return FS_CHUNK_BYTES; }

  unmount(): void {
    if (!this.mounted) return;
    this.check(this.x.fs_unmount(), "unmount");
    this.mounted = false;
  }

  open(path: string, flags = O_RDONLY): number {
    return this.check(this.x.fs_open(this.pathBytes(path), flags), "open", path);
  }

  /** Reads up to `len` bytes at the file position (several calls when len exceeds a chunk). */
  read(fd: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const want = Math.min(len - done, FS_CHUNK_BYTES);
      const part = this.ok(this.x.fs_read(fd, want), "read");
      out.set(part, done);
      done += part.length;
      if (part.length < want) break;
    }
    return out.subarray(0, done);
  }

  write(fd: number, data: Uint8Array): number {
    let done = 0;
    while (done < data.length) {
      const chunk = data.subarray(done, done + FS_CHUNK_BYTES);
      const n = this.check(this.x.fs_write(fd, chunk), "write");
      done += n;
      if (n < chunk.length) break;
    }
    return done;
  }

  seek(fd: number, off: number, whence = SEEK_SET): number { return this.check(this.x.fs_seek(fd, off, whence), "seek"); }
  tell(fd: number): number { return this.check(this.x.fs_tell(fd), "tell"); }
  size(fd: number): number { return this.check(this.x.fs_file_size(fd), "size"); }
  truncate(fd: number, size: number): void { this.check(this.x.fs_truncate(fd, size), "truncate"); }
  sync(fd: number): void { this.check(this.x.fs_sync(fd), "sync"); }
  close(fd: number): void { this.check(this.x.fs_close(fd), "close"); }

  readFile(path: string): Uint8Array {
    const fd = this.open(path, O_RDONLY);
    try {
      const size = this.size(fd);
      const data = this.read(fd, size);
      const past = this.ok(this.x.fs_read(fd, 1), "read", path);
      if (past.length !== 0) throw new FsError(-84, "read past end", path);
      return data;
    } finally { this.close(fd); }
  }

  /** Reads a whole file with reads of the given sizes, cycling through them. */
  readFileChunked(path: string, chunkSizes: number[]): Uint8Array {
    const fd = this.open(path, O_RDONLY);
    try {
      const parts: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; ; i++) {
        const want = chunkSizes[i % chunkSizes.length];
        const part = this.read(fd, want);
        parts.push(part);
        total += part.length;
        if (part.length < want) break;
      }
      const out = new Uint8Array(total);
      let at = 0;
      for (const p of parts) { out.set(p, at); at += p.length; }
      return out;
    } finally { this.close(fd); }
  }

  writeFile(path: string, data: Uint8Array): void {
    const fd = this.open(path, O_WRONLY | O_CREAT | O_TRUNC);
    try {
      const n = this.write(fd, data);
      if (n !== data.length) throw new FsError(-28, "write", path);
    } finally { this.close(fd); }
  }

  mkdir(path: string): void { this.check(this.x.fs_mkdir(this.pathBytes(path)), "mkdir", path); }
  remove(path: string): void { this.check(this.x.fs_remove(this.pathBytes(path)), "remove", path); }

  rename(from: string, to: string): void {
    this.check(this.x.fs_rename(this.pathBytes(from), this.pathBytes(to)), "rename", `${from} -> ${to}`);
  }

  stat(path: string): FsStat {
    const st = this.ok(this.x.fs_stat(this.pathBytes(path)), "stat", path);
    return { type: st.kind === 2 ? "dir" : "file", size: st.size };
  }

  /** Entries of a directory in littlefs order, without "." and "..". */
  readdir(path: string): FsDirEntry[] {
    const h = this.check(this.x.fs_dir_open(this.pathBytes(path)), "opendir", path);
    const out: FsDirEntry[] = [];
    try {
      for (;;) {
        const entry = this.ok(this.x.fs_dir_read(h), "readdir", path);
        if (entry === null) break;
        out.push({ name: dec.decode(entry.name), type: entry.kind === 2 ? "dir" : "file", size: entry.size });
      }
    } finally { this.x.fs_dir_close(h); }
    return out;
  }

  /** The value of user attribute `type` (0..255), or null when the entry has none (ENODATA). */
  getattr(path: string, type: number): Uint8Array | null {
    const r = this.x.fs_getattr(this.pathBytes(path), type);
    if (r === -61) return null;
    return this.ok(r, "getattr", path);
  }

  /** The user-attribute types (0..255) the entry holds, ascending. */
  listattrs(path: string): number[] {
    return [...this.ok(this.x.fs_listattrs(this.pathBytes(path)), "listattrs", path)];
  }

  setattr(path: string, type: number, value: Uint8Array): void {
    if (value.length > FS_CHUNK_BYTES) throw new FsError(-22, "setattr", path);
    this.check(this.x.fs_setattr(this.pathBytes(path), type, value), "setattr", path);
  }

  removeattr(path: string, type: number): void {
    this.check(this.x.fs_removeattr(this.pathBytes(path), type), "removeattr", path);
  }

  fsinfo(): FsInfo {
    return { ...this.ok(this.x.fs_fsinfo(), "fsinfo") };
  }

  sizeBlocks(): number { return this.check(this.x.fs_size_blocks(), "fs_size"); }
  /** Walks every block in use, validating it; returns how many it visited. */
  traverse(): number { return this.check(this.x.fs_traverse(), "traverse"); }
  gc(): void { this.check(this.x.fs_gc(), "gc"); }
  mkconsistent(): void { this.check(this.x.fs_mkconsistent(), "mkconsistent"); }
  /** The core's structural check: fault 0 when sound, else a code (see fs_check) and its details. */
  checkStructure(allowPending = false): { fault: number; detail: number[] } {
    const r = this.ok(this.x.fs_check(allowPending ? 1 : 0), "check");
    return { fault: r.code, detail: r.code ? [...r.detail] : [] };
  }
  /** All the RAM the file system holds in the core: static tables and output buffer, every mount's caches, lookahead and records. */
  ramBytes(): number { return this.x.fs_ram_bytes(); }
  /** The static part of ramBytes (tables and the output buffer), the same for every configuration. */
  ramStaticBytes(): number { return this.x.fs_ram_static_bytes(); }
}
