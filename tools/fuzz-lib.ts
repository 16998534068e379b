// fuzz-lib: the parts every fuzz target shares: a seeded PRNG, byte mutators, and the loop that
// runs cases and turns a failure into a reproducer.
//
// A target splits each case into `generate(rng)` (inputs only, from a PRNG seeded by the run's
// seed and the case's index) and `execute(input)` (runs it, throws FuzzFailure on a broken
// property). The input is bytes, so a failing case is saved as a file and re-run with nothing
// else: `npm run fuzz -- --target T --replay FILE`. The same (seed, case) always gives the same
// input on every machine.
// Invariants: generation uses only the PRNG it is given (no Math.random, no clock); execution
// never depends on earlier cases except through state it resets itself.
// Must not: swallow a host exception as "the target refused the input": only the target decides
// what an acceptable refusal is.

/** A small, fast, seedable PRNG (mulberry32): 32-bit state, good enough to drive mutations. */
export class Prng {
  private state: number;
  constructor(seed: number) { this.state = seed >>> 0; }
  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  below(n: number): number { return n <= 1 ? 0 : Math.floor((this.u32() / 4294967296) * n); }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number { return lo + this.below(hi - lo + 1); }
  chance(p: number): boolean { return this.u32() / 4294967296 < p; }
  pick<T>(items: readonly T[]): T { return items[this.below(items.length)]; }
  bytes(n: number): Uint8Array { const out = new Uint8Array(n); for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff; return out; }
}

/** The seed of case `index` of a run seeded `seed`: each case can be regenerated on its own. */
export function caseSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A broken property: the message says what and the case's input is the reproducer. */
export class FuzzFailure extends Error {}

export interface FuzzTarget {
  readonly name: string;
  /** What one case checks, for the CLI's help. */
  readonly summary: string;
  /** The longest one case may take before the watchdog calls it a hang. */
  readonly hangMs: number;
  generate(rng: Prng): Uint8Array | Promise<Uint8Array>;
  /** Runs one input; throws FuzzFailure when a property breaks. */
  execute(input: Uint8Array): void | Promise<void>;
}

/** Bytes that often sit on a boundary somewhere. */
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x22, 0x5c, 0x2c, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d, 0x30, 0x39, 0x2d, 0x0a];

/** One random byte-level edit of `data` (a new array): flip, set, insert, delete, duplicate, truncate. */
export function mutateBytes(rng: Prng, data: Uint8Array, maxLength = Infinity): Uint8Array {
  if (data.length === 0) return rng.bytes(rng.range(1, 8));
  const at = rng.below(data.length);
  const out = Array.from(data);
  switch (rng.below(7)) {
    case 0: out[at] ^= 1 << rng.below(8); break;
    case 1: out[at] = rng.pick(INTERESTING_BYTES); break;
    case 2: out[at] = rng.u32() & 0xff; break;
    case 3: out.splice(at, 0, ...rng.bytes(rng.range(1, 8))); break;
    case 4: out.splice(at, rng.range(1, Math.min(16, data.length - at))); break;
    case 5: { const len = rng.range(1, Math.min(32, data.length - at)); out.splice(rng.below(out.length), 0, ...out.slice(at, at + len)); break; }
    default: out.length = at; break;
  }
  return Uint8Array.from(out.slice(0, maxLength));
}

export interface CaseReport { index: number; seed: number; message: string; input: Uint8Array }

export interface RunStats { cases: number; failures: CaseReport[]; elapsedMs: number }

/**
 * Runs cases `first`, `first + 1`, ... of a run seeded `seed` in this thread until `seconds` pass
 * or `maxCases` ran. `onCase` (if given) is told the index before each case runs (the watchdog's
 * heartbeat). A case that throws anything is a failure; its message says whether the target
 * called it one (FuzzFailure) or something else escaped (a crash of the host or the harness).
 */
export async function runCases(target: FuzzTarget, opts: { seed: number; seconds?: number; maxCases?: number; first?: number; onCase?: (index: number) => void; onFailure?: (r: CaseReport) => void }): Promise<RunStats> {
  const startMs = performance.now();
  const failures: CaseReport[] = [];
  let index = opts.first ?? 0;
  let cases = 0;
  const limitMs = (opts.seconds ?? Infinity) * 1000;
  while (cases < (opts.maxCases ?? Infinity) && performance.now() - startMs < limitMs) {
    const seed = caseSeed(opts.seed, index);
    opts.onCase?.(index);
    let input: Uint8Array = new Uint8Array(0);
    const caseStartMs = performance.now();
    try {
      input = await target.generate(new Prng(seed));
      await target.execute(input);
      const tookMs = performance.now() - caseStartMs;
      if (tookMs > target.hangMs) throw new FuzzFailure(`case took ${tookMs.toFixed(0)} ms, more than the ${target.hangMs} ms a case may take`);
    } catch (err) {
      const message = err instanceof FuzzFailure ? err.message : `unexpected ${(err as Error)?.name ?? "exception"}: ${(err as Error)?.message ?? String(err)}`;
      const report = { index, seed, message, input };
      failures.push(report);
      opts.onFailure?.(report);
    }
    index++;
    cases++;
  }
  return { cases, failures, elapsedMs: performance.now() - startMs };
}

/** Re-runs one input (a reproducer file); returns the failure message, or null when it passes. */
export async function runInput(target: FuzzTarget, input: Uint8Array): Promise<string | null> {
  try {
    await target.execute(input);
    return null;
  } catch (err) {
    return err instanceof FuzzFailure ? err.message : `unexpected ${(err as Error)?.name ?? "exception"}: ${(err as Error)?.message ?? String(err)}`;
  }
}

/** Text that came from a fuzz input, printable on one line. */
export function escapeText(s: string, max = 200): string {
  const escaped = JSON.stringify(s.length > max ? s.slice(0, max) + "..." : s);
  return escaped.slice(1, -1);
}
