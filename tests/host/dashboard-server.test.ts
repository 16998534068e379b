// `wasphere dashboard`'s loopback static server (host/dashboard-cli.ts) and the command itself:
// 127.0.0.1 only, GET and HEAD only, nothing outside its root (encoded `..`, symlinks), a Host
// header that is not its own refused, the right content types and security headers; the command
// serves the given apps instrumented (a refused manifest without a module) and stops on SIGINT;
// bad input gets one line and exit 1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { request } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveStatic, type DashboardAppEntry } from "../../host/dashboard-cli.js";
import { REPO } from "../../tools/conformance.js";

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One raw request (the path is sent as written: no client-side normalisation). */
function get(port: number, path: string, opts: { method?: string; host?: string } = {}): Promise<Answer> {
  return new Promise((ok, fail) => {
    const req = request({ host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: { host: opts.host ?? `127.0.0.1:${port}` } }, (res) => {
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (c) => { body += c; });
      res.on("end", () => ok({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", fail);
    req.end();
  });
}

test("the static server: loopback only, its root only, GET/HEAD only, its own Host only", async () => {
  const base = mkdtempSync(join(tmpdir(), "wasphere-static-"));
  const root = join(base, "root");
  mkdirSync(join(root, "sub"), { recursive: true });
  writeFileSync(join(base, "secret.txt"), "outside");
  writeFileSync(join(root, "index.html"), "<p>index</p>");
  symlinkSync(join(base, "secret.txt"), join(root, "link.txt"));
  writeFileSync(join(root, "sub", "built.json"), "built");
  const srv = await serveStatic(root, 0, new Map([["apps.json", new TextEncoder().encode("[]")], ["sub/held.json", new TextEncoder().encode("held")]]), ["sub/"]);
  try {
    assert.equal((srv.server.address() as { address: string }).address, "127.0.0.1");
    assert.equal(srv.url, `http://127.0.0.1:${srv.port}/`);
    const index = await get(srv.port, "/");
    assert.equal(index.status, 200);
    assert.equal(index.body, "<p>index</p>");
    assert.equal(index.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(index.headers["x-content-type-options"], "nosniff");
    assert.match(String(index.headers["content-security-policy"]), /default-src 'self'; script-src 'self' 'wasm-unsafe-eval'/);
    writeFileSync(join(root, "m.wasm"), new Uint8Array([0, 0x61, 0x73, 0x6d]));
    const wasm = await get(srv.port, "/m.wasm");
    assert.equal(wasm.headers["content-type"], "application/wasm");
    assert.equal(wasm.body, "\0asm");
    assert.equal((await get(srv.port, "/sub/held.json")).body, "held");
    assert.equal((await get(srv.port, "/sub/built.json")).status, 404, "under an overlay-only prefix, files are not served");
    assert.equal((await get(srv.port, "/apps.json")).body, "[]", "the overlay");
    assert.equal((await get(srv.port, "/localhost-ok", { host: `localhost:${srv.port}` })).status, 404, "localhost is this server too");
    for (const path of ["/..%2fsecret.txt", "/sub/..%2f..%2fsecret.txt", "/%2e%2e/secret.txt", "/link.txt", "/sub", "/nothing", `/${encodeURIComponent(join(base, "secret.txt"))}`]) {
      const r = await get(srv.port, path);
      assert.equal(r.status, 404, `${path}: ${r.status} ${r.body}`);
      assert.ok(!r.body.includes("outside"), path);
    }
    assert.equal((await get(srv.port, "/%00")).status, 400);
    assert.equal((await get(srv.port, "/%E0%A4%A")).status, 400, "a malformed escape");
    assert.equal((await get(srv.port, "/", { method: "POST" })).status, 405);
    assert.equal((await get(srv.port, "/", { method: "PUT" })).status, 405);
    const head = await get(srv.port, "/", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    for (const host of ["evil.example", `evil.example:${srv.port}`, "127.0.0.1", `127.0.0.1:${srv.port + 1}`]) {
      assert.equal((await get(srv.port, "/", { host })).status, 403, host);
    }
  } finally {
    await srv.close();
    rmSync(base, { recursive: true, force: true });
  }
});

test("wasphere dashboard APP_DIR...: serves the apps instrumented (a refused manifest gets no module), stops on SIGINT", async () => {
  const child = spawn(process.execPath, ["bin/wasphere.js", "dashboard", "--port", "0", "examples/button", "tests/conformance/apps/refused"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  child.stderr.on("data", (c) => { stderr += c; });
  const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));
  try {
    const url = await new Promise<string>((ok, fail) => {
      child.stdout.on("data", (c) => {
        stdout += c;
        const m = /^wasphere dashboard: (http:\/\/127\.0\.0\.1:\d+\/) \(loopback only; Ctrl-C stops\)\n$/.exec(stdout);
        if (m) ok(m[1]);
      });
      child.on("exit", () => fail(new Error(`exited early: ${stdout}${stderr}`)));
    });
    const port = Number(new URL(url).port);
    const apps = JSON.parse((await get(port, "/apps.json")).body) as DashboardAppEntry[];
    assert.deepEqual(apps, [
      { dir: "examples/button", manifest: "apps/0/app_manifest.json", module: "apps/0/module.wasm" },
      { dir: "tests/conformance/apps/refused", manifest: "apps/1/app_manifest.json", module: null },
    ]);
    const module = await get(port, "/apps/0/module.wasm");
    assert.equal(module.headers["content-type"], "application/wasm");
    assert.ok(module.body.length > 1000 && module.body.startsWith("\0asm"));
    assert.equal((await get(port, "/index.html")).status, 200, "the built page");
    assert.equal((await get(port, "/apps/1/module.wasm")).status, 404);
  } finally {
    child.kill("SIGINT");
  }
  assert.equal(await exited, 0, stderr);
});

test("wasphere dashboard, bad input: one line on stderr, exit 1", () => {
  const cases: [string[], RegExp][] = [
    [["dashboard", "--port", "0", "no/such/dir"], /^wasphere dashboard: no\/such\/dir: no such app directory\n$/],
    [["dashboard", "--port", "70000"], /error: option '-p, --port <N>' argument '70000' is invalid. expected a TCP port/],
    [["dashboard", "--port", "0", "examples"], /^wasphere dashboard: examples: no app_manifest.json/],
  ];
  for (const [args, pattern] of cases) {
    const r = spawnSync(process.execPath, ["bin/wasphere.js", ...args], { cwd: REPO, encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, pattern);
    // commander adds its hint line after an option's error; the error itself is one line.
    assert.equal(r.stderr.trim().split("\n").filter((l) => !l.startsWith("(run `wasphere --help`")).length, 1, r.stderr);
  }
});
