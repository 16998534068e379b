// `wasphere device sideload | app | image ...`: the verbs a device answers (DeviceControl), as
// azsphere names them. Each goes to the running device in the folder through its control endpoint
// (host/control/client.ts), or, when none runs there, to the stopped device on its flash
// (host/device-offline.ts). Output: a few lines for a person, or with --json one JSON value
// (SPEC.md, "Control endpoint", "The device verbs").
// Invariants: everything that came from a package or an app is printed escaped (printable; the
// JSON text has every character printable would escape as a \u escape); an error is one line on
// stderr and exit code 1.
// Must not: decide anything itself; it reports what the device did.
import { type Command } from "commander";
import { connectControl } from "./control/client.js";
import { checkComponentId } from "./control/protocol.js";
import { ControlError, type AppReport, type DeviceControl, type ImageReport } from "./device-control.js";
import { openStoppedDevice } from "./device-offline.js";
import { withCommas } from "./device.js";
import { PackageError } from "./apps/imagepkg.js";
import { loadPackageFile } from "./imagepkg-cli.js";
import { printable } from "./printable.js";

/** The device folder when --device is not given. */
export const DEVICE_ENV = "WASPHERE_DEVICE";

const UNPRINTABLE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** JSON text (one space indented) whose every character prints as itself: the same value, C1 and bidi characters as \u escapes. */
export const printableJson = (value: unknown): string =>
  JSON.stringify(value, null, 1).replace(UNPRINTABLE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) + "\n";

const hex = (v: number) => `0x${v.toString(16).padStart(8, "0")}`;
const p = printable;

export function imageText(r: ImageReport): string[] {
  return [
    `${p(r.name)}`,
    `  component ID: ${p(r.componentId)}`,
    `  image ID:     ${p(r.imageId)}`,
    `  image type:   ${r.imageType === 10 ? "application" : r.imageType} (${r.imageType})`,
    `  version:      ${r.version}`,
    `  size:         ${withCommas(r.packageBytes)} bytes at flash offset ${hex(r.offsetBytes)}`,
  ];
}
export const appText = (r: AppReport) => `${p(r.name)} (${p(r.componentId)}): ${p(r.state)}, ${r.crashes} crashes, ${r.restarts} restarts\n`;

type Opts = { device?: string; json?: boolean; componentId?: string; imagePackage?: string };

async function withDevice(opts: Opts, fn: (control: DeviceControl) => Promise<void>): Promise<void> {
  try {
    const dir = opts.device ?? process.env[DEVICE_ENV];
    if (!dir) throw new ControlError("bad-request", `no device: give --device DEV (or set ${DEVICE_ENV})`);
    const running = await connectControl(dir);
    const control = running ?? await openStoppedDevice(dir);
    try { await fn(control); } finally { running ? running.close() : await (control as DeviceControl & { close(): Promise<void> }).close(); }
  } catch (err) {
    if (err instanceof ControlError || err instanceof PackageError) {
      process.stderr.write(`wasphere: ${p(err.message.split("\n")[0])}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

export function registerDeviceVerbs(device: Command): void {
  const common = (c: Command) => c.option("--device <DEV>", `the device folder (default: $${DEVICE_ENV})`).option("--json", "print one JSON value");
  const withId = (c: Command) => common(c).requiredOption("--component-id <ID>", "the app's ComponentId (a GUID)");
  const out = (opts: Opts, value: unknown, text: string) => process.stdout.write(opts.json ? printableJson(value) : text);

  const sideload = device.command("sideload").description("install and delete image packages on a device");
  common(sideload.command("deploy").description("install an image package, or replace the installed one of its ComponentId (old or new, never neither)"))
    .requiredOption("--image-package <FILE>", "the image package")
    .action((opts: Opts) => withDevice(opts, async (c) => {
      const r = await c.deploy(loadPackageFile(opts.imagePackage!));
      out(opts, r, [`${r.replaced ? "Replaced" : "Deployed"} ${imageText(r).join("\n")}`].join("\n") + "\n");
    }));
  withId(sideload.command("delete").description("delete an app: its package and its mutable storage"))
    .action((opts: Opts) => withDevice(opts, async (c) => {
      const id = checkComponentId(opts.componentId, "--component-id");
      await c.remove(id);
      out(opts, { componentId: id, deleted: true }, `Deleted ${id}\n`);
    }));

  const app = device.command("app").description("start, stop and inspect an installed app");
  const appVerb = (name: string, description: string, run: (c: DeviceControl, id: string) => Promise<{ value: unknown; text: string }>) =>
    withId(app.command(name).description(description)).action((opts: Opts) => withDevice(opts, async (c) => {
      const r = await run(c, checkComponentId(opts.componentId, "--component-id"));
      out(opts, r.value, r.text);
    }));
  appVerb("start", "start the app", async (c, id) => { const r = await c.start(id); return { value: r, text: appText(r) }; });
  appVerb("stop", "stop the app", async (c, id) => { const r = await c.stop(id); return { value: r, text: appText(r) }; });
  appVerb("show-status", "the app's state, crashes and restarts", async (c, id) => { const r = await c.status(id); return { value: r, text: appText(r) }; });
  appVerb("show-quota", "the app's mutable storage: its quota and what it uses", async (c, id) => {
    const r = await c.quota(id);
    const text = r.quotaBytes === 0 ? "no mutable storage (its manifest asks for none)" : `${withCommas(r.usedBytes)} of ${withCommas(r.quotaBytes)} bytes of mutable storage used`;
    return { value: r, text: `${p(r.name)} (${p(r.componentId)}): ${text}\n` };
  });
  appVerb("show-memory-stats", "the app's RAM: its quota, its memory now and its peak", async (c, id) => {
    const r = await c.memoryStats(id);
    return { value: r, text: `${p(r.name)} (${p(r.componentId)}): ${withCommas(r.memoryBytes)} bytes of memory now, peak ${withCommas(r.memPeakBytes)}, quota ${withCommas(r.quotaBytes)}\n` };
  });

  const image = device.command("image").description("the images installed on a device");
  common(image.command("list-installed").description("every installed image package"))
    .action((opts: Opts) => withDevice(opts, async (c) => {
      const r = await c.listInstalled();
      out(opts, r, r.length === 0 ? "No images installed\n" : `Installed images (${r.length}):\n${r.flatMap(imageText).map((l) => ` ${l}`).join("\n")}\n`);
    }));
}
