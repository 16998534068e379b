// The V8 settings the `wasphere` command runs apps under, set from inside the process (Node takes
// V8 flags only on its own command line or through v8.setFlagsFromString; NODE_OPTIONS refuses
// these).
//
// Why: an app's start, stop and first slice run host code (Device.start and step, the AppRunner,
// the audit drain, the syscall trampolines) a handful of times per boot, and V8 runs a function
// in its interpreter until it has been called often enough to earn baseline code. Measured on
// the start of an installed blink (start, first slice, stop; 9 repeats after one warm-up): 140 to
// 156 us interpreted, 49 to 64 us with `--always-sparkplug`, which gives every function V8's
// baseline (non-optimising) code at its first call. Sparkplug is the same compiler V8 tiers up
// to by default; the flag only skips the interpreted calls before it. What it costs is measured
// beside it by `npm run bench` (group firstslice: a whole `wasphere run` to blink's first slice).
//
// Invariants: Node only (node:v8); a library import of the host never changes the process's
// engine settings: only the command (host/cli.ts, when it is the main module) and the benchmark's
// child processes, which must run under what the command runs under, call applyEngineFlags.
// It must not set a flag that changes what a program computes: only how early code is compiled.
import { setFlagsFromString } from "node:v8";

/** The flags applyEngineFlags sets, in order (the benchmark prints them beside its groups). */
export const ENGINE_FLAGS: readonly string[] = ["--always-sparkplug"];

/**
 * Sets ENGINE_FLAGS in this process. Functions compiled before the call keep their tier, so the
 * command calls it before it runs a verb.
 */
export function applyEngineFlags(): void {
  for (const flag of ENGINE_FLAGS) setFlagsFromString(flag);
}
