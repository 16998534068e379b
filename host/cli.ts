// The `wasphere` command line: one verb per job, each in the module that owns the job.
import { Command, CommanderError } from "commander";
import { registerFsCommands } from "./fs/cli.js";
import { registerRunCommand } from "./run.js";
import { registerFootprintCommand } from "./footprint-cli.js";
import { registerInstrumentCommand } from "./instrument-cli.js";
import { registerReplayCommand } from "./replay-cli.js";
import { registerDashboardCommand } from "./dashboard-cli.js";
import { registerImagePackageCommands } from "./imagepkg-cli.js";
import { registerDeviceCommands } from "./device-cli.js";
import { registerNewCommand } from "./new-cli.js";
import { registerFeedCommands } from "./feed-cli.js";
import { registerKeysCommands } from "./keys-cli.js";
import { registerCoreCommands } from "./secure-cli.js";
import { applyEngineFlags } from "./engine-flags.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("wasphere")
    .description("A secure embedded runtime for IoT apps, built as WebAssembly.")
    .showHelpAfterError("(run `wasphere --help` for the verbs)")
    .exitOverride();
  registerRunCommand(program);
  registerInstrumentCommand(program);
  registerReplayCommand(program);
  registerFootprintCommand(program);
  registerFsCommands(program);
  registerDashboardCommand(program);
  registerImagePackageCommands(program);
  registerDeviceCommands(program);
  registerNewCommand(program);
  registerFeedCommands(program);
  registerKeysCommands(program);
  registerCoreCommands(program);
  return program;
}

const isMain = process.argv[1] && /(?:cli\.js|wasphere(?:\.js)?)$/.test(process.argv[1]);
if (isMain) {
  applyEngineFlags(); // before any verb runs: the code it reaches compiles under them
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    process.stderr.write(`wasphere: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
