// `wasphere image-package pack-application | show`: image packages on the host's disk
// (SPEC.md, "Image packages"), named as Azure Sphere's `image-package` verbs name them.
//
// pack-application reads an app directory by the package rules of host/apps/package.ts (an
// AssemblyScript main.ts is built first, as `wasphere run` builds it), has the core accept the
// manifest, and packs the manifest, the EntryPoint module and the directory's other files.
// show reads a package through the core (host/apps/imagepkg.ts) and prints what it holds.
// Errors are one line on stderr and exit code 1; text that came from the package is escaped.
// Must not: interpret package bytes itself, or write the output file unless the package passed
// the core's checks (it is written beside the destination and renamed into place).
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { KeyError, readKeyText, signerFromPem, verifierFromPem } from "./pluton/keys.js";
import { Command, InvalidArgumentError } from "commander";
import { appFromDirectory, AppPackageError, readInside } from "./apps/package.js";
import { AppBuildError } from "./apps/build.js";
import { checkManifest, inspectPackage, packImage, PackageError, signPackage, verifyPackageSignature, PKG_MAX_FILES, type InspectedPackage, type PackFile } from "./apps/imagepkg.js";
import { ImageError, loadImage, saveImage } from "./fs/image.js";
import { printable } from "./printable.js";
import { checkHardwareDefinition, LayoutError } from "./flash-layout.js";
import * as abi from "../assembly/abi.js";

/** Names the pack leaves out of a package directory: build output, tooling, sources, hidden files. */
const TOP_LEVEL_EXCLUDED = new Set(["build", "node_modules", "package.json", "package-lock.json", "asconfig.json", "tsconfig.json"]);
const excludedName = (name: string, top: boolean) => name.startsWith(".") || name.endsWith(".ts") || (top && TOP_LEVEL_EXCLUDED.has(name));

export interface PackOptions {
  componentId?: string;
  /** A hardware definition whose peripheral names resolve `$NAME` values in the manifest's Capabilities. */
  hardwareDefinitions?: string;
  imageVersion?: number;
  /** Seconds since 1970; default SOURCE_DATE_EPOCH, else the newest file's modification time. */
  buildTimeSeconds?: number;
  /** A system app of the OS image (system/NAME), packed into the core image (host/net/system-apps.ts). */
  system?: boolean;
}

/** The package files of `dir` besides the manifest and the EntryPoint, in path order. */
function otherFiles(root: string, skip: Set<string>, mtimes: number[]): PackFile[] {
  const out: PackFile[] = [];
  const walk = (rel: string, depth: number) => {
    if (depth > 8) throw new PackageError(`${printable(rel)}: directories nested deeper than 8`);
    for (const name of readdirSync(join(root, rel)).sort()) {
      if (excludedName(name, rel === "")) continue;
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      if (st.isDirectory()) { walk(path, depth + 1); continue; }
      if (skip.has(path)) continue;
      if (out.length >= PKG_MAX_FILES) throw new PackageError(`more than ${PKG_MAX_FILES} files to pack`);
      out.push({ path, bytes: readInside(root, path) });
      mtimes.push(statSync(join(root, path)).mtimeMs);
    }
  };
  walk("", 0);
  return out;
}

/** Packs the app in `dir`: returns the package bytes and what went into it. */
export async function packDirectory(dir: string, opts: PackOptions = {}): Promise<{ bytes: Uint8Array; files: PackFile[] }> {
  const pkg = appFromDirectory(dir);
  const manifestBytes = opts.hardwareDefinitions ? resolveHardwareNames(pkg.manifestBytes, opts.hardwareDefinitions) : pkg.manifestBytes;
  const manifest = checkManifest(manifestBytes, `${printable(dir)}/app_manifest.json`, opts.system);
  if (opts.componentId !== undefined && opts.componentId.replace(/^\{(.*)\}$/, "$1").toLowerCase() !== manifest.componentId) {
    throw new PackageError(`--component-id ${printable(opts.componentId)} is not the manifest's ComponentId (${manifest.componentId})`);
  }
  const module = await pkg.loadEntryPoint(manifest.entryPoint);
  const root = realpathSync(dir);
  const mtimes: number[] = [];
  const files: PackFile[] = [
    { path: "app_manifest.json", bytes: manifestBytes },
    { path: manifest.entryPoint, bytes: module },
    ...otherFiles(root, new Set(["app_manifest.json", manifest.entryPoint]), mtimes),
  ];
  for (const rel of ["app_manifest.json", "main.ts"]) if (existsSync(join(root, rel))) mtimes.push(statSync(join(root, rel)).mtimeMs);
  const buildTimeSeconds = opts.buildTimeSeconds ?? sourceDateEpoch() ?? Math.floor(Math.max(...mtimes) / 1000);
  const bytes = await packImage({ files, componentId: manifest.componentId, imageVersion: opts.imageVersion ?? 1, buildTimeSeconds, name: manifest.name }, opts.system);
  return { bytes, files };
}

/**
 * The manifest with each `"$NAME"` in its Capabilities replaced by the AppManifestValue of the
 * hardware definition's peripheral NAME, as Azure Sphere's tools do when they pack: the core then
 * checks the resolved values. A manifest that is not JSON is passed on unchanged (the core's
 * parser names the problem).
 */
export function resolveHardwareNames(manifestBytes: Uint8Array, hardwareFile: string): Uint8Array {
  let hwJson: unknown;
  try { hwJson = JSON.parse(readFileSync(hardwareFile, "utf8")); } catch (err) { throw new PackageError(`${printable(hardwareFile)}: cannot be read as JSON (${(err as Error).message})`); }
  const hw = checkHardwareDefinition(hwJson, printable(hardwareFile));
  const byName = new Map(hw.peripherals.map((p) => [p.Name, p]));
  let manifest: { Capabilities?: Record<string, unknown> };
  try { manifest = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(manifestBytes)); } catch { return manifestBytes; }
  const caps = manifest?.Capabilities;
  if (!caps || typeof caps !== "object") return manifestBytes;
  for (const [key, value] of Object.entries(caps)) {
    if (!Array.isArray(value)) continue;
    caps[key] = value.map((v, i) => {
      if (typeof v !== "string" || !v.startsWith("$")) return v;
      const p = byName.get(v.slice(1));
      if (!p) throw new PackageError(`app_manifest.json: Capabilities.${printable(key)}[${i}]: ${printable(v)} is not a peripheral of ${printable(hardwareFile)}`);
      if (p.Type !== key) throw new PackageError(`app_manifest.json: Capabilities.${printable(key)}[${i}]: ${printable(v)} is a ${p.Type} peripheral, not ${printable(key)}`);
      return p.AppManifestValue;
    });
  }
  return new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n");
}

/** SOURCE_DATE_EPOCH (reproducible builds' convention), when set. */
function sourceDateEpoch(): number | undefined {
  const v = process.env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v)) throw new PackageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not ${printable(v)}`);
  return Number(v);
}

const SIGNATURE_NAMES: Record<number, string> = { 0: "none (unsigned)", 1: "ECDSA P-256 SHA-256" };
const hex32 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
const abiText = (v: number) => `${v >>> 16}.${(v >>> 8) & 0xff}`;

/** Capabilities of the manifest the core accepted, for display (escaped when printed). */
function capabilitiesOf(p: InspectedPackage): unknown {
  return (JSON.parse(new TextDecoder().decode(p.manifestBytes)) as { Capabilities?: unknown }).Capabilities ?? {};
}

export function showJson(file: string, p: InspectedPackage) {
  const i = p.info;
  return {
    file,
    sizeBytes: p.sizeBytes,
    identity: { imageType: i.imageType, imageTypeName: "Application", componentId: i.componentId, imageId: i.imageId },
    version: i.version,
    debug: { name: i.name, buildTime: new Date(i.buildTimeSeconds * 1000).toISOString(), buildTimeSeconds: i.buildTimeSeconds },
    abi: [{ name: "applibs", version: abiText(i.abiVersion) }],
    signature: { algorithm: i.signature.algorithm, algorithmName: SIGNATURE_NAMES[i.signature.algorithm], keyId: i.signature.algorithm ? i.signature.keyId : null, signedBytes: i.signedBytes },
    filesystem: { blockSizeBytes: i.fsBlockBytes, blockCount: i.fsBlockCount, bytes: i.metadataOffset, crc32: hex32(i.fsCrc32) },
    metadata: { offset: i.metadataOffset, bytes: i.metadataBytes },
    manifest: { name: p.manifest.name, entryPoint: p.manifest.entryPoint, capabilities: capabilitiesOf(p) },
    files: p.files.filter((f) => f.type === "file").map((f) => ({ path: f.path, sizeBytes: f.size, sha256: f.sha256 })),
  };
}

export function showText(file: string, p: InspectedPackage): string {
  const j = showJson(file, p);
  const lines = [
    `Image package ${printable(file)}: ${j.sizeBytes} bytes`,
    `Identity:`,
    `  Image type:   ${j.identity.imageTypeName} (${j.identity.imageType})`,
    `  ComponentId:  ${j.identity.componentId}`,
    `  ImageId:      ${j.identity.imageId}`,
    `Version:        ${j.version}`,
    `Debug:`,
    `  Name:         ${printable(j.debug.name)}`,
    `  Built:        ${j.debug.buildTime}`,
    `ABI:            applibs ${j.abi[0].version}`,
    `Signature:      ${j.signature.algorithmName}${j.signature.keyId ? `, key ${j.signature.keyId}` : ""}`,
    `littlefs image: ${j.filesystem.blockCount} blocks of ${j.filesystem.blockSizeBytes} bytes (${j.filesystem.bytes} bytes), CRC-32 ${j.filesystem.crc32}`,
    `Metadata:       ${j.metadata.bytes} bytes at ${j.metadata.offset}`,
    `EntryPoint:     ${printable(j.manifest.entryPoint)}`,
    `Capabilities:   ${printable(JSON.stringify(j.manifest.capabilities))}`,
    `Files:`,
    ...j.files.map((f) => `  ${String(f.sizeBytes).padStart(8)}  ${printable(f.path)}`),
  ];
  return lines.join("\n") + "\n";
}

/** Reads a package file for show, refusing a non-file or one above the format's limit before reading it. */
export function loadPackageFile(file: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new PackageError(`${printable(file)}: not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof PackageError) throw err;
    throw new PackageError(`${printable(file)}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  if (size > abi.PKG_MAX_BYTES) throw new PackageError(`${printable(file)}: image package: is ${size} bytes; the limit is ${abi.PKG_MAX_BYTES} (oversized)`);
  return loadImage(file);
}

function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return Number(value);
  };
}

export function registerImagePackageCommands(program: Command): void {
  const group = program.command("image-package").description("pack and inspect image packages (an app's read-only file system and its metadata)");
  const action = <A extends unknown[]>(fn: (...args: A) => Promise<void> | void) => async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof AppPackageError || err instanceof AppBuildError) {
        // A build's refusal carries the compiler's lines, already escaped and indented (printableLines).
        process.stderr.write(`wasphere: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      if (err instanceof PackageError || err instanceof ImageError || err instanceof LayoutError || err instanceof KeyError) {
        process.stderr.write(`wasphere: ${printable(err.message.split("\n")[0])}\n`);
        process.exitCode = 1;
        return;
      }
      throw err;
    }
  };

  group.command("pack-application")
    .description("pack an app directory (app_manifest.json, the EntryPoint module or the main.ts that builds it, and its other files) into an image package")
    .requiredOption("--package-directory <DIR>", "the app's directory")
    .requiredOption("--output-file <FILE>", "where to write the image package")
    .option("--component-id <GUID>", "the app's ComponentId; must be the manifest's (default: the manifest's)")
    .option("--hardware-definitions <FILE>", "a hardware definition (a device's hardware-definition.json): \"$NAME\" values in the manifest's Capabilities become its peripherals' values")
    .option("--image-version <N>", "the image's version, 1 and up (default 1)", intOption("--image-version", 1, 0xffffffff))
    .option("--build-time <SECONDS>", "build time recorded in the package, seconds since 1970 (default: SOURCE_DATE_EPOCH, else the newest packed file's modification time)", intOption("--build-time", 0, Number.MAX_SAFE_INTEGER))
    .option("--sign <KEY.pem>", "sign the package with this P-256 private key (PKCS8 PEM, from `wasphere keys create`)")
    .addHelpText("after", `
Left out of the package: build/, node_modules/, package.json, package-lock.json, asconfig.json,
tsconfig.json at the top, and at any depth *.ts sources and names starting with ".". The same
inputs always give the same bytes.`)
    .action(action(async (opts: { packageDirectory: string; outputFile: string; componentId?: string; imageVersion?: number; buildTime?: number; hardwareDefinitions?: string; sign?: string }) => {
      // The key is read before packing, so a bad key costs no build and writes nothing.
      const signer = opts.sign ? await signerFromPem(readKeyText(opts.sign), opts.sign) : undefined;
      const packed = await packDirectory(opts.packageDirectory, { componentId: opts.componentId, imageVersion: opts.imageVersion, buildTimeSeconds: opts.buildTime, hardwareDefinitions: opts.hardwareDefinitions });
      const bytes = signer ? await signPackage(packed.bytes, signer) : packed.bytes;
      saveImage(opts.outputFile, bytes);
      process.stdout.write(`${printable(opts.outputFile)}: ${bytes.length} bytes\n`);
    }));

  group.command("show")
    .description("print what an image package holds: identity, version, name, size, capabilities, files")
    .argument("[FILE]", "the image package")
    .option("--image-package <FILE>", "the image package (instead of FILE)")
    .option("--json", "print one JSON object")
    .option("--verify <KEY.pub>", "check the signature against this P-256 public key (SPKI PEM); exit code 1 if it does not verify")
    .action(action(async (fileArg: string | undefined, opts: { imagePackage?: string; json?: boolean; verify?: string }) => {
      const file = opts.imagePackage ?? fileArg;
      if (!file) throw new PackageError("show needs an image package: FILE or --image-package FILE");
      const verifier = opts.verify ? await verifierFromPem(readKeyText(opts.verify), opts.verify) : undefined;
      const bytes = loadPackageFile(file);
      const p = await inspectPackage(bytes).catch((err) => {
        if (err instanceof PackageError) throw new PackageError(`${file}: ${err.message}`);
        throw err;
      });
      const verdict = verifier ? await verifyPackageSignature(bytes, p.info, verifier) : undefined;
      if (opts.json) process.stdout.write(JSON.stringify({ ...showJson(file, p), ...(verdict ? { verification: { key: opts.verify, ...verdict } } : {}) }, null, 1) + "\n");
      else process.stdout.write(showText(file, p) + (verdict ? `Verification:   ${verdict.verified ? "verified" : "FAILED"}: ${verdict.reason}\n` : ""));
      if (verdict && !verdict.verified) process.exitCode = 1;
    }));
}
