// Building an app from AssemblyScript source with the wasphere SDK's settings.
//
// Apps link their data at APP_RUNTIME_AREA_BYTES so the low bytes of their memory stay free for the
// runtime's save area, and map `abort` to the SDK's (which logs and traps in the app only): the
// only imports a built app has are the `applibs` syscalls it uses.
import { mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { APP_RUNTIME_AREA_BYTES } from "../../assembly/abi.js";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export class AppBuildError extends Error {}

export function appAscArgs(sourceFile: string, outFile: string): string[] {
  const sdkAbort = relative(REPO_ROOT, join(REPO_ROOT, "sdk", "applibs")).split("\\").join("/") + "/abort";
  return [
    relative(REPO_ROOT, sourceFile), "-o", outFile,
    "--memoryBase", String(APP_RUNTIME_AREA_BYTES),
    "--use", `abort=${sdkAbort}`,
    "-O3", "--noAssert",
  ];
}

/** Compiles an app's AssemblyScript entry file to a .wasm file. Throws AppBuildError with asc's output. */
export async function buildApp(sourceFile: string, outFile: string): Promise<void> {
  mkdirSync(dirname(outFile), { recursive: true });
  const asc = (await import("assemblyscript/asc")).default;
  let log = "";
  const stream = { write(chunk: string | Uint8Array) { log += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString(); return true; } };
  const cwd = process.cwd();
  process.chdir(REPO_ROOT);
  try {
    const { error } = await asc.main(appAscArgs(sourceFile, outFile), { stdout: stream as any, stderr: stream as any });
    if (error) throw new AppBuildError(`building ${sourceFile} failed:\n${log.trim()}`);
  } finally {
    process.chdir(cwd);
  }
}
