// `wasphere replay FILE`: re-runs a recording made by `wasphere run --record FILE` and says whether
// the device did exactly the same again, or where it first did something else.
// Loads the device (and binaryen) only when the verb runs.
import { Command } from "commander";
import { readFileSync } from "node:fs";
import { formatEvent } from "./run.js";

export function registerReplayCommand(program: Command): void {
  program
    .command("replay")
    .description("replay a recording made with `wasphere run --record FILE`: every crossing of the core boundary, the audit log and the trace are compared")
    .argument("<FILE>", "the recording")
    .option("--core <PATH>", "replay against another core.wasm (e.g. a fixed build)")
    .option("--print", "print the recorded trace")
    .action(async (file: string, opts: { core?: string; print?: boolean }) => {
      const { recordingFromJson, replay } = await import("./replay.js");
      const { coreModule } = await import("./core.js");
      let rec;
      try {
        rec = recordingFromJson(readFileSync(file, "utf8"));
      } catch (err) {
        process.stderr.write(`wasphere replay: ${file}: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      if (opts.print) for (const e of rec.trace) process.stdout.write(formatEvent(e) + "\n");
      const result = await replay(rec, { coreModule: opts.core ? coreModule(opts.core) : undefined });
      const what = `${result.crossings} crossings of the core boundary, ${result.clockReadings} clock readings, ${rec.drives.length} pin changes`;
      if (!result.divergence) {
        process.stdout.write(`replayed ${what}: identical, with the same audit log (${result.auditEntries} entries) and trace (${result.traceEvents} events)\n`);
        return;
      }
      const d = result.divergence;
      process.stdout.write(`replay diverges at ${d.where} (after ${what}):\n  recorded: ${d.expected}\n  replayed: ${d.actual}\n`);
      process.exitCode = 1;
    });
}
