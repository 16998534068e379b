// `wasphere fs` end to end: the real command, spawned, against copies of the reference fixtures.
// `ls --json` must reproduce each manifest's tree and root attributes exactly; put/get must round
// trip; every failing command must exit 1 with one line on stderr and leave the image unchanged.
import test from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "bin", "wasphere.js");
const fixtures = join(root, "tests", "fixtures", "littlefs");
const fixtureNames = readdirSync(fixtures).filter((f) => f.endsWith(".img")).map((f) => f.slice(0, -4)).sort();

const work = mkdtempSync(join(tmpdir(), "wasphere-fs-cli-"));

interface Run { status: number | null; stdout: Buffer; stderr: string }
function wasphere(...args: string[]): Run {
  const r = spawnSync(process.execPath, [bin, "fs", ...args], { cwd: root, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** The same, without blocking: the per-fixture commands run side by side, one per core. */
function wasphereAsync(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "fs", ...args], { cwd: root });
    const out: Buffer[] = [], err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
  });
}

/** fn over every item, at most one per core at a time; results in item order. */
async function perCore<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => { while (next < items.length) { const i = next++; results[i] = await fn(items[i]); } };
  await Promise.all(Array.from({ length: Math.max(1, availableParallelism()) }, worker));
  return results;
}

function ok(r: Run, what: string): Run {
  assert.equal(r.status, 0, `${what}: exit ${r.status}, stderr: ${r.stderr}`);
  return r;
}

/** A failing command: exit 1, exactly one line on stderr, no stack trace. */
function fails(r: Run, what: string, pattern: RegExp): void {
  assert.equal(r.status, 1, `${what}: expected exit 1, got ${r.status} (stderr: ${r.stderr})`);
  assert.match(r.stderr, /^[^\n]+\n$/, `${what}: stderr must be one line, got: ${JSON.stringify(r.stderr)}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: stack trace on stderr`);
  assert.match(r.stderr, pattern, what);
}

function copyFixture(name: string, as = name): string {
  const dst = join(work, `${as}.img`);
  copyFileSync(join(fixtures, `${name}.img`), dst);
  chmodSync(dst, 0o644);
  return dst;
}

function manifest(name: string) {
  return JSON.parse(readFileSync(join(fixtures, `${name}.json`), "utf8"));
}

/** The manifest's tree without `storage`, which the file-system API does not show. */
function expectedTree(tree: Record<string, unknown>[]) {
  return tree.map(({ storage: _storage, ...rest }) => rest);
}

test("ls --json reproduces every fixture manifest's tree and root attributes", async () => {
  assert.ok(fixtureNames.length >= 20, `fixtures in ${fixtures}`);
  const runs = await perCore(fixtureNames, async (name) => {
    const img = copyFixture(name);
    const before = readFileSync(img);
    const out = await wasphereAsync("ls", img, "--json");
    return { name, img, before, out };
  });
  for (const { name, img, before, out } of runs) {
    ok(out, `ls ${name}`);
    const listing = JSON.parse(out.stdout.toString());
    const m = manifest(name);
    assert.deepEqual(listing.root_attrs, m.root_attrs, `${name}: root_attrs`);
    assert.deepEqual(listing.tree, expectedTree(m.tree), `${name}: tree`);
    assert.ok(readFileSync(img).equals(before), `${name}: ls changed the image`);
  }
});

test("info reports the superblock and blocks in use; check passes on every fixture", async () => {
  const runs = await perCore(fixtureNames, async (name) => {
    const img = copyFixture(name, `${name}-info`);
    const g = manifest(name).stats.gstate;
    // A power-cut image keeps its pending move or orphans: the plain check refuses it, as it would
    // any image left so after an unmount; --power-loss accepts exactly that state.
    const cut = g.pending_move || g.orphan_flag;
    const strict = cut ? await wasphereAsync("check", img) : null;
    return { name, strict, info: await wasphereAsync("info", img, "--json"), check: await wasphereAsync("check", img, ...(cut ? ["--power-loss"] : [])) };
  });
  for (const { name, strict, info: infoRun, check } of runs) {
    const m = manifest(name);
    if (strict) fails(strict, `check ${name} without --power-loss`, m.stats.gstate.pending_move ? /gstate holds a pending move/ : /gstate is not clean after unmount .*orphans/);
    const info = JSON.parse(ok(infoRun, `info ${name}`).stdout.toString());
    assert.deepEqual(
      { version: info.version, block_size: info.block_size, block_count: info.block_count, name_max: info.name_max, file_max: info.file_max, attr_max: info.attr_max },
      { version: m.disk_version, block_size: m.geometry.block_size, block_count: m.geometry.block_count, name_max: m.geometry.name_max, file_max: m.geometry.file_max, attr_max: m.geometry.attr_max },
      `${name}: info`,
    );
    assert.equal(info.blocks_in_use, m.stats.blocks_in_use, `${name}: blocks in use`);
    ok(check, `check ${name}`);
    assert.match(check.stdout.toString(), /: ok: \d+ directories, \d+ files, \d+ bytes, \d+ attributes, \d+ blocks traversed/);
  }
});

test("mkfs, mkdir, put, get, setattr, getattr, mv, rm round trip through the image", () => {
  const img = join(work, "fresh.img");
  ok(wasphere("mkfs", img, "--block-size", "512", "--block-count", "128"), "mkfs");
  assert.equal(readFileSync(img).length, 512 * 128);
  const data = Buffer.alloc(5000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 7)) & 0xff;
  const host = join(work, "blob.bin");
  writeFileSync(host, data);
  ok(wasphere("mkdir", img, "/docs"), "mkdir");
  ok(wasphere("put", img, host, "/docs/blob.bin"), "put");
  ok(wasphere("put", img, host, "/top.bin"), "put top");
  assert.ok(ok(wasphere("get", img, "/docs/blob.bin"), "get").stdout.equals(data), "get returns the bytes put");
  ok(wasphere("setattr", img, "/docs/blob.bin", "7", "c0ffee"), "setattr");
  ok(wasphere("setattr", img, "/", "200", ""), "setattr root, empty");
  assert.equal(ok(wasphere("getattr", img, "/docs/blob.bin", "7"), "getattr").stdout.toString(), "c0ffee\n");
  ok(wasphere("mv", img, "/docs/blob.bin", "/moved.bin"), "mv");
  ok(wasphere("rm", img, "/top.bin"), "rm");
  const listing = JSON.parse(ok(wasphere("ls", img, "--json"), "ls").stdout.toString());
  const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  assert.deepEqual(listing, {
    root_attrs: { "200": "" },
    tree: [
      { path: "/docs", type: "dir" },
      { path: "/moved.bin", type: "file", size: 5000, sha256: digest(data), attrs: { "7": "c0ffee" } },
    ],
  });
  // Geometry is found in the superblock: the same listing with it given explicitly.
  const explicit = JSON.parse(ok(wasphere("ls", img, "--json", "--block-size", "512", "--block-count", "128", "--cache-size", "128"), "ls explicit").stdout.toString());
  assert.deepEqual(explicit, listing);
  ok(wasphere("check", img), "check");
});

test("failing commands exit 1 with one line and leave the image byte-identical", () => {
  const img = copyFixture("bs4096-attrs", "errors");
  const before = readFileSync(img);
  const host = join(work, "small.txt");
  writeFileSync(host, "hello");
  const cases: [string[], RegExp][] = [
    [["get", img, "/nope"], /\/nope: no such file or directory/],
    [["put", img, host, "/missing-dir/x"], /no such file or directory/],
    [["put", img, join(work, "no-such-host-file"), "/x"], /no-such-host-file: no such file/],
    [["put", img, host, "/docs"], /is a directory/],
    [["mkdir", img, "/docs"], /already exists/],
    [["rm", img, "/docs"], /directory not empty/],
    [["rm", img, "/nope"], /no such file or directory/],
    [["mv", img, "/nope", "/x"], /no such file or directory/],
    [["mv", img, "/docs/a.txt", "/nowhere/a.txt"], /no such file or directory/],
    [["setattr", img, "/docs", "7", "abc"], /hex/],
    [["setattr", img, "/docs", "300", "ab"], /0\.\.255/],
    [["setattr", img, "/nope", "7", "ab"], /no such file or directory/],
    [["getattr", img, "/docs", "1"], /no such attribute/],
    [["ls", img, "--block-size", "512"], /not a littlefs image/],
  ];
  for (const [args, pattern] of cases) {
    fails(wasphere(...args), args.join(" "), pattern);
    assert.ok(readFileSync(img).equals(before), `${args.join(" ")} changed the image`);
  }
});

test("files that are not whole littlefs images are refused with a clear message", () => {
  const noise = join(work, "noise.img");
  const junk = Buffer.alloc(65536);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) & 0xff;
  writeFileSync(noise, junk);
  fails(wasphere("ls", noise), "ls noise", new RegExp(`${noise.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: not a littlefs image \\(no superblock found\\)`));
  fails(wasphere("info", join(work, "absent.img")), "info absent", /absent\.img: no such file/);

  const truncated = join(work, "truncated.img");
  writeFileSync(truncated, readFileSync(join(fixtures, "bs4096-attrs.img")).subarray(0, 100000));
  fails(wasphere("check", truncated), "check truncated", /truncated/);

  // Every block but the superblock pair overwritten: the directories' pairs are gone.
  const corrupt = copyFixture("bs4096-attrs", "corrupt");
  const bytes = readFileSync(corrupt);
  bytes.fill(0x5a, 2 * 4096);
  writeFileSync(corrupt, bytes);
  const r = wasphere("check", corrupt);
  fails(r, "check corrupt", /corrupt/);
  assert.ok(readFileSync(corrupt).equals(bytes), "check changed a corrupt image");
});
