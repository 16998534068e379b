// `wasphere dashboard [--port N] [APP_DIR...]`: serves the browser dashboard (build/dashboard/, which
// `npm run build` emits: dashboard/index.html, its page script, the host bundle, core.wasm and the
// example apps instrumented ahead of time) on loopback, where the device runs inside the page.
// With APP_DIRs, those apps (instrumented here, in Node, as `wasphere instrument` does) replace the
// built-in examples; nothing is written to disk.
// The server is the Node adapter's part, not the device's: a small node:http static server.
// Invariants: it listens on 127.0.0.1 only; it answers GET and HEAD only, for files inside its
// root (after resolving symlinks) or in its in-memory overlay; a request whose Host header is not
// this loopback address is refused (a page of another site that rebinds its name to 127.0.0.1 gets
// nothing); every answer carries nosniff and a Content-Security-Policy that lets the page run its
// own scripts and Wasm only. App directories become `apps/<index>/...` paths: an app's name
// (which the app chose) never becomes a path or a header.
// Must not: serve outside its root, listen on another interface, or print an app's text unescaped.
import { Command, InvalidArgumentError } from "commander";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { printable } from "./printable.js";

export const DASHBOARD_DIR = fileURLToPath(new URL("../../build/dashboard/", import.meta.url));
export const DEFAULT_DASHBOARD_PORT = 8470;
export const LOOPBACK = "127.0.0.1";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".golden": "text/plain; charset=utf-8",
};

/** The page's own scripts and Wasm, nothing inline, nothing from elsewhere. */
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface StaticServer {
  server: Server;
  /** `http://127.0.0.1:PORT/` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the files under `root` (and `overlay`, URL path without the leading "/" -> bytes, which
 * wins over files) on 127.0.0.1:`port` (0: any free port). A path that starts with one of
 * `overlayOnly` is answered from the overlay alone (the built examples never leak into a set of
 * apps given on the command line).
 */
export async function serveStatic(root: string, port: number, overlay: Map<string, Uint8Array> = new Map(), overlayOnly: string[] = []): Promise<StaticServer> {
  const realRoot = realpathSync(root);
  let boundPort = port;
  const server = createServer((req, res) => answer(req, res));
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body: string | Uint8Array, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), "X-Content-Type-Options": "nosniff", "Content-Security-Policy": CSP, "Cache-Control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "only GET and HEAD\n");
    if (req.headers.host !== `${LOOPBACK}:${boundPort}` && req.headers.host !== `localhost:${boundPort}`) return send(403, "wrong Host for this loopback server\n");
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).replace(/^\/+/, "");
    } catch {
      return send(400, "bad path\n");
    }
    if (path === "" || path.endsWith("/")) path += "index.html";
    if (path.includes("\0")) return send(400, "bad path\n");
    const type = CONTENT_TYPES[extname(path)] ?? "application/octet-stream";
    const held = overlay.get(path);
    if (held) return send(200, held, type);
    if (overlayOnly.some((prefix) => path.startsWith(prefix))) return send(404, "not found\n");
    const file = fileInside(realRoot, path);
    if (!file) return send(404, "not found\n");
    send(200, readFileSync(file), type);
  };
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(port, LOOPBACK, () => { server.off("error", fail); ok(); });
  });
  boundPort = (server.address() as { port: number }).port;
  return {
    server, port: boundPort, url: `http://${LOOPBACK}:${boundPort}/`,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

/** The regular file `rel` names under `realRoot`, symlinks resolved, or null when it is not there or not inside. */
function fileInside(realRoot: string, rel: string): string | null {
  const candidate = resolve(realRoot, rel);
  if (!existsSync(candidate)) return null;
  const real = realpathSync(candidate);
  if (real !== realRoot && !real.startsWith(realRoot + sep)) return null;
  return statSync(real).isFile() ? real : null;
}

/** One app of the dashboard's apps.json: where its manifest and its instrumented module are. */
export interface DashboardAppEntry {
  dir: string;
  manifest: string;
  module: string | null;
}

/**
 * The dashboard's app files for `appDirs`: `apps.json` and, per app, `apps/<index>/app_manifest.json`
 * and `apps/<index>/module.wasm` (instrumented for the quota the core grants its manifest). An app
 * the core refuses keeps its manifest and no module, so the page shows the core's refusal.
 * Each app's `dir` in apps.json is as given (relative ones resolved against `baseDir`).
 */
export async function dashboardApps(appDirs: string[], baseDir = process.cwd()): Promise<Map<string, Uint8Array>> {
  const { appFromDirectory, AppPackageError } = await import("./apps/package.js");
  const { instrumentForManifest } = await import("./instrument-cli.js");
  const { InstrumentError } = await import("./apps/instrument.js");
  const files = new Map<string, Uint8Array>();
  const entries: DashboardAppEntry[] = [];
  for (const [i, dir] of appDirs.entries()) {
    // Relative to the working directory as given, so that messages name the directory as the user wrote it.
    const pkg = appFromDirectory(resolve(baseDir) === process.cwd() ? dir : resolve(baseDir, dir));
    const base = `apps/${i}`;
    files.set(`${base}/app_manifest.json`, pkg.manifestBytes);
    let module: string | null = `${base}/module.wasm`;
    try {
      const out = await instrumentForManifest(pkg.origin, pkg.manifestBytes, (entry) => pkg.loadEntryPoint(entry));
      files.set(module, out.bytes);
    } catch (err) {
      // The instrumenter does not know where the module came from: say it.
      if (err instanceof InstrumentError) throw new AppPackageError(`${printable(dir)}: ${err.message}`);
      if ((err as { code?: unknown }).code === undefined) throw err;
      module = null;
    }
    entries.push({ dir, manifest: `${base}/app_manifest.json`, module });
  }
  files.set("apps.json", new TextEncoder().encode(JSON.stringify(entries, null, 1) + "\n"));
  return files;
}

/** Serves the dashboard with the built examples, or with `appDirs` instead. */
export async function startDashboard(opts: { port: number; appDirs: string[] }): Promise<StaticServer> {
  if (!existsSync(join(DASHBOARD_DIR, "index.html"))) throw new Error(`${DASHBOARD_DIR} is not built: run \`npm run build\` first`);
  const overlay = opts.appDirs.length ? await dashboardApps(opts.appDirs) : new Map<string, Uint8Array>();
  return serveStatic(DASHBOARD_DIR, opts.port, overlay, opts.appDirs.length ? ["apps/"] : []);
}

const portNumber = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("expected a TCP port, 0..65535 (0: any free port)");
  return n;
};

export function registerDashboardCommand(program: Command): void {
  program
    .command("dashboard")
    .description("serve the browser dashboard on 127.0.0.1: the simulated board, the apps, the memory map and the audit log, with the device running in the page")
    .argument("[APP_DIR...]", "app directories to run instead of the built-in examples (blink, button)")
    .option("-p, --port <N>", `the loopback port (default ${DEFAULT_DASHBOARD_PORT}; 0: any free port)`, portNumber, DEFAULT_DASHBOARD_PORT)
    .action(async (appDirs: string[], opts: { port: number }) => {
      const { InstallError } = await import("./device.js");
      const { AppPackageError } = await import("./apps/package.js");
      let srv: StaticServer;
      try {
        srv = await startDashboard({ port: opts.port, appDirs });
      } catch (err) {
        if (err instanceof InstallError || err instanceof AppPackageError || (err as { code?: string }).code === "EADDRINUSE") {
          process.stderr.write(`wasphere dashboard: ${printable((err as Error).message)}\n`);
          process.exitCode = 1;
          return;
        }
        throw err;
      }
      process.stdout.write(`wasphere dashboard: ${srv.url} (loopback only; Ctrl-C stops)\n`);
      await new Promise<void>((done) => process.once("SIGINT", () => { srv.close().then(done); }));
    });
}
