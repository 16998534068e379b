// `wasphere instrument APP_DIR|MODULE -o OUT`: instruments an app ahead of time, so that a host
// without binaryen (a browser bundle, the wasmtime host in hosts/wasmtime, an embedder) can install
// it as it is (Device.installInstrumented). The output follows the slice protocol of
// host/apps/protocol.ts; its memory maximum is the app's quota.
// For an APP_DIR the core reads the manifest, as at install: a manifest the core refuses is refused
// here too, and the quota is the one the manifest gets on a device with the default configuration
// (`--quota-kib` cannot override it). For a bare MODULE the quota is `--quota-kib` (default: the
// device's default quota); install it with a manifest whose quota is at least that.
// Node only (files, the asc build of main.ts): part of the CLI, never of the device.
import { Command, InvalidArgumentError } from "commander";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as abi from "../assembly/abi.js";
import { appInstrumentOptions } from "./apps/imports.js";
import type { DeviceConfig } from "./device.js";

export interface InstrumentedOutput {
  name: string;
  quotaBytes: number;
  originalBytes: number;
  bytes: Uint8Array;
}

/** Instruments `wasm` for an app whose memory quota is `quotaBytes`. */
export async function instrumentModule(wasm: Uint8Array, quotaBytes: number): Promise<Uint8Array> {
  const { instrumentApp } = await import("./apps/instrument.js");
  return instrumentApp(wasm, appInstrumentOptions(quotaBytes)).bytes;
}

/**
 * Instruments the app whose manifest is `manifestBytes`: the core (on a device configured by
 * `config`) validates the manifest and gives the quota; `loadEntryPoint` supplies the raw module.
 */
export async function instrumentForManifest(origin: string, manifestBytes: Uint8Array, loadEntryPoint: (entryPoint: string) => Promise<Uint8Array>, config: DeviceConfig = {}): Promise<InstrumentedOutput> {
  const { Device } = await import("./device.js");
  const { VirtualClock } = await import("./peripherals/clock.js");
  const admitted = new Device({ clock: new VirtualClock(), ...config }).describeManifest(origin, manifestBytes);
  const wasm = await loadEntryPoint(admitted.entryPoint);
  return { name: admitted.name, quotaBytes: admitted.quotaBytes, originalBytes: wasm.length, bytes: await instrumentModule(wasm, admitted.quotaBytes) };
}

const quotaKib = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 64 || n % 64 !== 0) throw new InvalidArgumentError("expected a whole number of 64 KiB pages, in KiB (e.g. 256)");
  return n;
};

export function registerInstrumentCommand(program: Command): void {
  program
    .command("instrument")
    .description("instrument an app ahead of time (metering + asyncify) so that hosts without binaryen can run it")
    .argument("<APP_DIR|MODULE>", "an app directory (app_manifest.json and its .wasm or main.ts) or a .wasm module")
    .requiredOption("-o, --output <OUT>", "where to write the instrumented module")
    .option("--quota-kib <KIB>", "for a bare module: the app's memory quota (default: the device default)", quotaKib)
    .action(async (input: string, opts: { output: string; quotaKib?: number }) => {
      const { InstallError } = await import("./device.js");
      const { InstrumentError } = await import("./apps/instrument.js");
      const { appFromDirectory, AppPackageError } = await import("./apps/package.js");
      try {
        let out: InstrumentedOutput;
        if (!existsSync(input)) throw new AppPackageError(`${input}: no such app directory or module`);
        if (statSync(input).isDirectory()) {
          if (opts.quotaKib !== undefined) throw new AppPackageError(`${input}: --quota-kib applies to a bare module; an app directory's quota comes from its manifest`);
          const pkg = appFromDirectory(input);
          out = await instrumentForManifest(pkg.origin, pkg.manifestBytes, (entry) => pkg.loadEntryPoint(entry));
        } else {
          const wasm = readFileSync(input);
          const quotaBytes = (opts.quotaKib ?? abi.DEFAULT_APP_QUOTA_BYTES / 1024) * 1024;
          out = { name: input, quotaBytes, originalBytes: wasm.length, bytes: await instrumentModule(wasm, quotaBytes) };
        }
        writeFileSync(opts.output, out.bytes);
        process.stdout.write(`${out.name}: ${out.originalBytes} B -> ${out.bytes.length} B instrumented, memory maximum ${out.quotaBytes / 1024} KiB; wrote ${opts.output}\n`);
      } catch (err) {
        if (err instanceof InstallError || err instanceof AppPackageError || err instanceof InstrumentError) {
          // The instrumenter does not know where its bytes came from; the other errors say it.
          process.stderr.write(`wasphere instrument: ${err instanceof InstrumentError ? `${input}: ` : ""}${err.message}\n`);
          process.exitCode = 1;
          return;
        }
        throw err;
      }
    });
}
