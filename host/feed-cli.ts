// `wasphere feed publish | show`: an update feed folder (SPEC.md, "Update feed"; host/update-feed.ts).
//
// publish signs a new feed naming the given image packages (and keeping the feed's other
// components); show prints a feed and, given the publisher's public key, whether it verifies.
// Errors are one line on stderr and exit code 1; text that came from a feed or package is escaped.
// Must not: write anything before every package and the existing feed passed their checks.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { FEED_FILE, FeedError, loadVerifyKey, openFeed, publishFeed, type FeedComponent } from "./update-feed.js";
import { printable } from "./printable.js";

function readText(path: string, what: string): string {
  try { return readFileSync(path, "utf8"); } catch (err) { throw new FeedError(`${what} ${printable(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`); }
}

const row = (c: FeedComponent) => `  ${c.ComponentId}  v${c.Version}  ${printable(c.Name)}  ${c.SizeBytes} B  sha256 ${c.Sha256.slice(0, 16)}...\n`;

export function registerFeedCommands(program: Command): void {
  const group = program.command("feed").description("publish and inspect an update feed (a folder of static files any HTTP server can serve)");
  const action = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => async (...args: A) => {
    try { await fn(...args); } catch (err) {
      if (!(err instanceof FeedError)) throw err;
      process.stderr.write(`wasphere: ${printable(err.message.split("\n")[0])}\n`);
      process.exitCode = 1;
    }
  };

  group.command("publish")
    .description("sign a new feed in DIR naming PACKAGE... (each replaces its ComponentId's entry; other components stay)")
    .requiredOption("--key <KEY.pem>", "the publisher's P-256 private key (PKCS8 PEM)")
    .requiredOption("--output <DIR>", "the feed folder (made if missing)")
    .option("--json", "print one JSON object")
    .argument("<PACKAGE...>", "image packages, or a signed core image (wasphere core sign), to publish")
    .action(action(async (packages: string[], opts: { key: string; output: string; json?: boolean }) => {
      const r = await publishFeed(opts.output, readText(opts.key, "--key"), packages);
      if (opts.json) { process.stdout.write(JSON.stringify(r, null, 1) + "\n"); return; }
      process.stdout.write(`${printable(join(opts.output, FEED_FILE))}: sequence ${r.sequence}, signed by key ${r.keyId}\n`);
      process.stdout.write(`published:\n${r.published.map(row).join("")}`);
      if (r.kept.length) process.stdout.write(`kept:\n${r.kept.map(row).join("")}`);
    }));

  group.command("show")
    .description("print the feed in DIR; with --verify, check its signature against the publisher's public key")
    .argument("<DIR>", "the feed folder")
    .option("--verify <KEY.pub>", "the publisher's public key (SPKI PEM)")
    .option("--json", "print one JSON object")
    .action(action(async (dir: string, opts: { verify?: string; json?: boolean }) => {
      const path = join(dir, FEED_FILE);
      let bytes: Uint8Array;
      try { bytes = readFileSync(path); } catch { throw new FeedError(`${printable(dir)}: no ${FEED_FILE} (not a feed folder; make one with \`wasphere feed publish\`)`); }
      const key = opts.verify ? await loadVerifyKey(readText(opts.verify, "--verify"), `--verify ${printable(opts.verify)}`) : undefined;
      const m = await openFeed(bytes, printable(path), key);
      if (opts.json) { process.stdout.write(JSON.stringify({ ...m, verified: key !== undefined }, null, 1) + "\n"); return; }
      process.stdout.write(`${printable(path)}: sequence ${m.Sequence}, published ${printable(m.PublishedUtc)}, key ${m.KeyId}, signature ${key ? "verifies" : "not checked (no --verify)"}\n`);
      process.stdout.write(m.Components.map(row).join(""));
    }));
}
