// `wasphere device update-core DEV IMG` and `wasphere device update status DEV [--json]`: OS (core)
// updates of a device folder from the command line (host/os-update.ts does the work; SPEC.md
// "Boot state", "OS update status").
// Invariants: an error is one line on stderr and exit code 1 (the device verbs' action); the JSON
// is one value, one-space indented, its text printable.
// Must not: write anything but through updateCoreFolder (status only reads).
import type { Command } from "commander";
import { osUpdateStatus, osUpdateText, updateCoreFolder } from "./os-update.js";
import { printableJson } from "./device-verbs-cli.js";

type Action = <A extends unknown[]>(fn: (...args: A) => Promise<void> | void) => (...args: A) => Promise<void>;
const out = (line: string): void => { process.stdout.write(`${line}\n`); };

export function registerOsUpdateCommands(device: Command, action: Action): void {
  device.command("update-core")
    .description("stage an OS update: write a signed core image (wasphere core sign --version N) into the stopped device's non-primary OS slot, verify it, mark it PENDING; the next boot tries it and keeps it only if the device comes up healthy")
    .argument("<DEV>", "the device folder")
    .argument("<IMG>", "the signed core image")
    .action(action(async (dir: string, img: string) => out(await updateCoreFolder(dir, img))));
  device.command("update")
    .description("the device's OS updates")
    .command("status")
    .description("print both OS slots (image, version, key, boot state), which is primary, whether a trial is pending, the security processor's counters, the mode and the last OS update's outcome")
    .argument("<DEV>", "the device folder")
    .option("--json", "print one JSON object")
    .action(action(async (dir: string, opts: { json?: boolean }) => {
      const s = await osUpdateStatus(dir);
      if (opts.json) process.stdout.write(printableJson(s));
      else for (const line of osUpdateText(s)) out(line);
    }));
}
