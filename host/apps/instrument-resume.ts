// Suspension for recursion: a small (RESUMABLE_MAX_EXPRESSIONS) loop-free recursive function of at
// most RESUMABLE_MAX_CALLS calls that can unwind, that can be on the stack when the app is suspended (it calls
// `wasphere.preempt`, a blocking import, a table, or such a function) and that only direct calls
// reach is rewritten to save its own frame and return (unwind) and to be
// re-entered later at the same call (rewind), in place of binaryen asyncify's rewrite of it.
// asyncify still rewrites every other function, and both run on asyncify's own state and data
// globals, save area and exports: a frame is private to the function that wrote it, so frames of
// both kinds sit on one stack and the slice protocol is unchanged for every host. What it saves
// on the path that does not suspend (recursion is where it shows):
// - after a call that can unwind, one test of the state global (`br_if` to the function's one
//   save block), where asyncify also guards each statement and local write around it;
// - while rewinding, a local `resumeAt` (the id of the call to re-enter, 0 when running
//   normally) steers execution there: statements that hold no resume point are skipped as groups
//   (`if resumeAt == 0`), an `if` takes the arm that holds the call, and the call is made again,
//   which re-enters the callee's own saved frame; `resumeAt` is then 0 again. In small functions
//   statements that only compute a local without trapping run unguarded, and each local they
//   write is reloaded from the frame before the call.
// A frame is [resume id: i32][every local of the function at its aligned offset] (params
// included), rounded to 16 bytes, pushed at `current` by the unwinding callee first and popped in
// reverse by the rewinding callers, as asyncify's are.
// Invariants: only statement-position calls (Flat IR, binaryen's `flatten`) are resume points, and
// the final walk proves every call that can unwind is one (else InstrumentError); while
// `resumeAt != 0` no statement with a side effect runs and no branch is taken, so a rewind runs a
// bounded straight path to its call whatever the saved frame holds (a frame is the app's own
// memory: a forged one can only send the app to one of its own resume points with locals of its
// choosing, as under asyncify); a call counts as able to unwind by asyncify's own rule or a wider
// one, never a narrower. A frame that does not fit the save area is not written; `current` still
// moves past `end`, so asyncify_stop_unwind traps as it does for asyncify's own frames.
// Memory: no data, no globals of its own; two locals per rewritten function; frames in the app's
// save area.
// Must not: rewrite a function reached other than by a direct call (its calls are redirected to
// the rewrite), one with loops (asyncify's form is smaller there and as fast: loop headers only
// preempt outside the loop), one that is not recursive, larger or has more calls (asyncify's form is
// the smaller, see RESUMABLE_MAX_CALLS), or one with a local it cannot store (references, tuples):
// those keep asyncify's rewrite.
import binaryen from "binaryen";
import { InstrumentError } from "./instrument-errors.js";

const B = binaryen;
const X = binaryen as unknown as {
  Function: { getBody(f: number): number; setBody(f: number, body: number): void };
  Call: { setTarget(e: number, name: string): void };
  LocalGet: { setIndex(e: number, index: number): void };
  Block: { getName(e: number): string | null; setName(e: number, name: string): void };
  Loop: { getName(e: number): string; setName(e: number, name: string): void };
  Break: { getName(e: number): string; setName(e: number, name: string): void };
  Switch: { getNumNames(e: number): number; getNameAt(e: number, i: number): string; setNameAt(e: number, i: number, name: string): void; getDefaultName(e: number): string; setDefaultName(e: number, name: string): void };
  LocalSet: { setIndex(e: number, index: number): void };
  _BinaryenFunctionAddVar(f: number, type: number): number;
};

const UNWIND_LABEL = "__wasphere_unwind";

/**
 * The fuel a resumable function returns when it unwinds, and the fuel its caller passes it when
 * it is to resume its frame: the one i32 no counted fuel can be. A host writes the fuel global
 * only with values in [-1, FUEL_IDLE] (SPEC.md, "Instrumented app modules"); every charge is at
 * most 2^30 + 1 units (a bulk operation's length / 4 + 1; a region at most the module's
 * instructions and its leaves') and is followed at once by a check that preempts below zero,
 * after which the fuel is read back from the global: so a counted fuel is at least
 * -1 - (2^30 + 1), far above -2^31.
 */
export const UNWOUND = -0x80000000;

export interface ResumeStats {
  /** Functions rewritten to be resumable. */
  functions: number;
  /** Call sites a rewind can re-enter (calls that can unwind). */
  resumePoints: number;
}

interface Info { ref: number; name: string; importKey: string | null; unwinds: boolean; callees: Set<string>; indirect: boolean }

type Info1 = { id: number; type: number } & Record<string, unknown>;
const info = (e: number) => B.getExpressionInfo(e) as unknown as Info1;

/** Child expressions of one expression (instrument.ts's walk, which knows every allowed kind). */
export type Children = (e: number) => number[];

/** Direct callees and whether `e`'s tree has a call_indirect (any position). */
function scanCalls(e: number, children: Children, out: { callees: Set<string>; indirect: boolean }): void {
  const stack = [e];
  while (stack.length) {
    const x = stack.pop()!;
    const id = B.getExpressionId(x);
    if (id === B.CallId) out.callees.add(info(x).target as string);
    if (id === B.CallIndirectId || id === B.CallRefId) out.indirect = true;
    stack.push(...children(x));
  }
}

/** Binary and unary operators that can trap (integer division, float-to-int truncation). */
const TRAPPING_OPS = new Set<number>([
  B.DivSInt32, B.DivUInt32, B.RemSInt32, B.RemUInt32, B.DivSInt64, B.DivUInt64, B.RemSInt64, B.RemUInt64,
  B.TruncSFloat32ToInt32, B.TruncUFloat32ToInt32, B.TruncSFloat64ToInt32, B.TruncUFloat64ToInt32,
  B.TruncSFloat32ToInt64, B.TruncUFloat32ToInt64, B.TruncSFloat64ToInt64, B.TruncUFloat64ToInt64,
]);
const PURE_IDS = new Set<number>([B.ConstId, B.LocalGetId, B.GlobalGetId, B.UnaryId, B.BinaryId, B.SelectId]);

/**
 * `local.set $x (value)` where the value reads only locals, globals and constants through
 * operators that cannot trap: running it again changes nothing but $x.
 */
function isSafeStatement(e: number, children: Children, fuelLocal: number): boolean {
  if (B.getExpressionId(e) !== B.LocalSetId) return false;
  const i = info(e);
  if (i.isTee || !i.value || i.index === fuelLocal) return false;
  const stack = [i.value as number];
  while (stack.length) {
    const x = stack.pop()!;
    const id = B.getExpressionId(x);
    if (!PURE_IDS.has(id)) return false;
    if ((id === B.UnaryId || id === B.BinaryId) && TRAPPING_OPS.has(info(x).op as number)) return false;
    stack.push(...children(x));
  }
  return true;
}

/**
 * The most calls that can unwind a function may hold to be made resumable. Each resume point
 * costs code (its unwind test, its reloads) and a frame saves every local, where asyncify saves
 * only those live at the call, so asyncify's form is the smaller one (on blink's loop-free
 * functions: +0.5 % of the module with those of one call rewritten, +3.4 % with four, +6 % with
 * all), while the saving per call counts in small functions that call themselves: so only
 * recursive functions of a few calls are rewritten.
 */
const RESUMABLE_MAX_CALLS = 4;
/**
 * The largest function (in expressions, metering included) made resumable: the per-call saving
 * is a share of the work only in small functions (fib is 25), and each rewritten function costs
 * code beside asyncify's form (blink's four recursive loop-free functions of 30 to 120
 * expressions: +380 B of 18,936 when all are rewritten).
 */
const RESUMABLE_MAX_EXPRESSIONS = 48;

/** The most frame reloads (locals x resume points) a function takes to run safe statements unguarded. */
const RELOADS_PER_FUNCTION = 16;

const SAVABLE = new Map<number, number>([[B.i32, 4], [B.i64, 8], [B.f32, 4], [B.f64, 8], [B.v128, 16]]);

/** What `planResumable` decided, for `finishResumable`. */
export interface ResumablePlan {
  /** Each function to be made resumable -> the name of its copy (asyncify's removelist). */
  copies: Map<string, string>;
  /** Of those, the originals whose normal path gets a body of its own, without resume-id tests. */
  hot: Set<string>;
  /** Functions (and imports) that can unwind: a call to one is a resume point. */
  unwinds: Set<string>;
}

const hasLoop = (body: number, children: Children): boolean => {
  const stack = [body];
  while (stack.length) { const e = stack.pop()!; if (B.getExpressionId(e) === B.LoopId) return true; stack.push(...children(e)); }
  return false;
};

/** `name` can call itself again through direct calls. */
function recursive(name: string, funcs: Map<string, Info>): boolean {
  const seen = new Set<string>();
  const stack = [...(funcs.get(name)?.callees ?? [])];
  while (stack.length) {
    const c = stack.pop()!;
    if (c === name) return true;
    if (seen.has(c)) continue;
    seen.add(c);
    stack.push(...(funcs.get(c)?.callees ?? []));
  }
  return false;
}

/** Expressions in `body`, all kinds. */
function expressions(body: number, children: Children): number {
  let n = 0;
  for (const stack = [body]; stack.length; n++) stack.push(...children(stack.pop()!));
  return n;
}

/** Calls in `body` that can unwind. */
function unwindingCalls(body: number, children: Children, funcs: Map<string, Info>): number {
  let n = 0;
  const stack = [body];
  while (stack.length) {
    const e = stack.pop()!;
    const id = B.getExpressionId(e);
    if (id === B.CallIndirectId || (id === B.CallId && funcs.get(info(e).target as string)?.unwinds)) n++;
    stack.push(...children(e));
  }
  return n;
}

/**
 * Before asyncify runs: picks the functions this file makes resumable (loop-free recursion of a
 * few calls, reached only by direct calls, so calls can be redirected) and adds
 * an untouched copy of each, for asyncify's removelist. `unwinding` is the `module.field` of each
 * import that may unwind (wasphere.preempt and the blocking imports); `escaping` the functions
 * reached other than by a direct call (exports, tables, ref.func, the start).
 */
export function planResumable(mod: binaryen.Module, unwinding: string[], children: Children, escaping: Set<string>): ResumablePlan {
  const funcs = new Map<string, Info>();
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const ref = mod.getFunctionByIndex(i);
    const f = B.getFunctionInfo(ref);
    if (f.module) { funcs.set(f.name, { ref, name: f.name, importKey: `${f.module}.${f.base}`, unwinds: unwinding.includes(`${f.module}.${f.base}`), callees: new Set(), indirect: false }); continue; }
    const calls = { callees: new Set<string>(), indirect: false };
    scanCalls(f.body, children, calls);
    funcs.set(f.name, { ref, name: f.name, importKey: null, unwinds: calls.indirect, ...calls });
  }
  // A function can unwind when it calls one that can (a listed import at the bottom) or a table:
  // asyncify's own rule, so every call asyncify may unwind through is a resume point here too.
  for (let changed = true; changed;) {
    changed = false;
    for (const f of funcs.values()) {
      if (f.unwinds || f.importKey) continue;
      if ([...f.callees].some((c) => funcs.get(c)?.unwinds)) { f.unwinds = true; changed = true; }
    }
  }
  const copies = new Map<string, string>();
  const hot = new Set<string>();
  for (const f of funcs.values()) {
    if (!f.unwinds || f.importKey) continue;
    const fi = B.getFunctionInfo(f.ref);
    if (B.expandType(fi.results).length > 1) continue;
    if (![...B.expandType(fi.params), ...fi.vars].every((t) => SAVABLE.has(t))) continue;
    const isHot = !escaping.has(f.name) && !hasLoop(fi.body, children) && recursive(f.name, funcs) &&
      unwindingCalls(fi.body, children, funcs) <= RESUMABLE_MAX_CALLS && expressions(fi.body, children) <= RESUMABLE_MAX_EXPRESSIONS;
    if (!isHot) continue;
    const copy = `__wasphere_resumable${copies.size}`;
    mod.addFunction(copy, fi.params, fi.results, fi.vars, mod.copyExpression(fi.body));
    copies.set(f.name, copy);
    if (isHot) hot.add(f.name);
  }
  return { copies, hot, unwinds: new Set([...funcs.values()].filter((f) => f.unwinds).map((f) => f.name)) };
}

/**
 * After asyncify (the copies in its removelist, so untouched): rewrites each copy into a function
 * that takes the fuel as one more (last) parameter and returns it as one more (last) result, and
 * saves and resumes its own frame through asyncify's state and data globals; each original is
 * replaced by an adapter of its name and type, which the functions asyncify rewrote keep calling.
 * Frames are private to the function that writes them, so a resumable frame and asyncify's sit on
 * one stack. A copy that flattening leaves with a local it cannot save is dropped and its original
 * kept (asyncify's).
 *
 * The fuel: inside a rewritten function the fuel global `fuelGlobal` lives in the local FUEL (every
 * global.get/set of it becomes a local.get/set; a final walk proves none is left). It is written
 * back to the global just before every call of anything else that can read or write it (an
 * import, a function asyncify rewrote, a table) and read back just after, and passed to and
 * returned by a call of another rewritten function: so the global holds, at every point where
 * other code can look at it, exactly what it would hold had the function kept it there.
 */
export function finishResumable(mod: binaryen.Module, plan: ResumablePlan, children: Children, stateGlobal: string, dataGlobal: string, fuelGlobal: string): ResumeStats {
  const rewrite: { ref: number; name: string; original: string; fueled: string }[] = [];
  for (const [original, copy] of plan.copies) {
    const ref = mod.getFunction(copy);
    // Flat IR puts every call in a statement position; coalescing then shrinks the frames.
    mod.runPassesOnFunction(ref, ["flatten", "coalesce-locals", "reorder-locals"]);
    const fi = B.getFunctionInfo(ref);
    if ([...B.expandType(fi.params), ...fi.vars].every((t) => SAVABLE.has(t))) rewrite.push({ ref, name: copy, original, fueled: `${copy}_fueled` });
    else mod.removeFunction(copy);
  }
  const fueledOf = new Map(rewrite.map((f) => [f.original, f]));
  const fueledNames = new Set(rewrite.map((f) => f.fueled));
  const canUnwind = (call: number): boolean => {
    const id = B.getExpressionId(call);
    if (id === B.CallIndirectId) return true;
    if (id !== B.CallId) return false;
    const target = info(call).target as string;
    return plan.unwinds.has(target) || fueledNames.has(target);
  };
  // Functions that can never touch the fuel global: no access to it, no call but direct ones to
  // such functions (the bounded functions the metering charges at their call sites, when they
  // reach no import). A call of one needs no write-back of the fuel.
  const callsOf = new Map<string, string[] | null>(); // null: touches the fuel or calls indirectly
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const f = B.getFunctionInfo(mod.getFunctionByIndex(i));
    if (f.module || fueledOf.has(f.name) || plan.copies.has(f.name)) continue;
    let calls: string[] | null = [];
    for (const stack = [f.body]; stack.length && calls;) {
      const e = stack.pop()!;
      const id = B.getExpressionId(e);
      if (id === B.CallId) calls.push(info(e).target as string);
      if (id === B.CallIndirectId || id === B.CallRefId) calls = null;
      else if ((id === B.GlobalGetId || id === B.GlobalSetId) && info(e).name === fuelGlobal) calls = null;
      else stack.push(...children(e));
    }
    callsOf.set(f.name, calls);
  }
  const fuelFree = new Set([...callsOf.keys()]);
  for (let changed = true; changed;) {
    changed = false;
    for (const name of fuelFree) {
      const calls = callsOf.get(name);
      if (!calls || calls.some((c) => !fuelFree.has(c))) { fuelFree.delete(name); changed = true; }
    }
  }
  const state = () => mod.global.get(stateGlobal, B.i32);
  const data = () => mod.global.get(dataGlobal, B.i32);
  const stats: ResumeStats = { functions: rewrite.length, resumePoints: 0 };
  const resultsOf = (r: number) => (r === B.none ? B.i32 : B.createType([r, B.i32]));
  const zeroOf = (result: number): number | null => result === B.none ? null : result === B.i32 ? mod.i32.const(0) : result === B.i64 ? (mod.i64.const as unknown as (v: bigint) => number)(0n)
    : result === B.f32 ? mod.f32.const(0) : result === B.f64 ? mod.f64.const(0) : mod.v128.const(new Array(16).fill(0));

  for (const f of rewrite) {
    const fi = B.getFunctionInfo(f.ref);
    const params = B.expandType(fi.params);
    const P = params.length;
    const result = fi.results;
    // New locals: the original parameters, FUEL, the original vars (indices shifted by one), then ours.
    const FUEL = P;
    const newVars = [...fi.vars];
    const addVar = (t: number) => { newVars.push(t); return P + newVars.length; };
    const resumeAt = addVar(B.i32);
    const cur = addVar(B.i32);
    const tuples = new Map<number, number>();
    const tupleLocal = (t: number) => { let l = tuples.get(t); if (l === undefined) { l = addVar(t); tuples.set(t, l); } return l; };
    /** Old local index -> new. */
    const moved = (i: number) => (i < P ? i : i + 1);
    // The frame holds the original locals (at their new indices); FUEL is not in it: it is dead at
    // every resume point (the call's result or the global gives it again).
    const frameLocals = [...params, ...fi.vars].map((t, i) => ({ t, idx: moved(i) }));
    {
      const stack = [X.Function.getBody(f.ref)];
      while (stack.length) {
        const e = stack.pop()!;
        const id = B.getExpressionId(e);
        if (id === B.LocalGetId) X.LocalGet.setIndex(e, moved(info(e).index as number));
        else if (id === B.LocalSetId) X.LocalSet.setIndex(e, moved(info(e).index as number));
        stack.push(...children(e));
      }
    }
    const rA = () => mod.local.get(resumeAt, B.i32);
    const normal = () => mod.i32.eqz(rA());
    const fuel = () => mod.local.get(FUEL, B.i32);
    /** resumeAt in [lo, hi] (ids are numbered depth first, so a subtree's ids are one range). */
    const within = (lo: number, hi: number) => lo === hi
      ? mod.i32.eq(rA(), mod.i32.const(lo))
      : mod.i32.le_u(mod.i32.sub(rA(), mod.i32.const(lo)), mod.i32.const(hi - lo));
    // Frame layout: the resume id, then each local at its aligned offset.
    const offsets = new Map<number, number>();
    let size = 4;
    for (const { t, idx } of frameLocals) { const n = SAVABLE.get(t)!; size = Math.ceil(size / n) * n; offsets.set(idx, size); size += n; }
    size = Math.ceil(size / 16) * 16;
    const typeOf = new Map(frameLocals.map(({ t, idx }) => [idx, t]));
    const curGet = () => mod.local.get(cur, B.i32);
    const load = (t: number, off: number) => {
      const p = curGet();
      if (t === B.i32) return mod.i32.load(off, 4, p);
      if (t === B.i64) return mod.i64.load(off, 8, p);
      if (t === B.f32) return mod.f32.load(off, 4, p);
      if (t === B.f64) return mod.f64.load(off, 8, p);
      return mod.v128.load(off, 16, p);
    };
    const body = X.Function.getBody(f.ref);
    // Statements that only compute into a local, and cannot trap, run even while rewinding (a
    // guard would cost more than they do); each local they write is loaded from the frame again
    // at every resume point, before its call, so the call and what follows see the saved values.
    // Only in small functions (RELOADS_PER_FUNCTION loads in all): elsewhere the reloads would
    // cost more code than the guards they save. FUEL is never one of them: while rewinding it
    // holds UNWOUND, which tells a rewritten callee to resume its own frame.
    const navWritten = new Set<number>();
    let callSites = 0;
    for (const walk = [body]; walk.length;) {
      const e = walk.pop()!;
      if (isSafeStatement(e, children, FUEL)) navWritten.add(info(e).index as number);
      const id = B.getExpressionId(e);
      if ((id === B.CallId || id === B.CallIndirectId) && canUnwind(e)) callSites++;
      walk.push(...children(e));
    }
    const unguarded = navWritten.size * callSites <= RELOADS_PER_FUNCTION;
    if (!unguarded) navWritten.clear();
    const reloads = () => [...navWritten].map((idx) => mod.local.set(idx, load(typeOf.get(idx)!, offsets.get(idx)!)));
    const points = new Set<number>();
    /** The write-backs of the fuel around calls of other code: the only accesses of the global left. */
    const syncs = new Set<number>();
    const unwindHere = (id: number) => mod.block(null, [mod.local.set(resumeAt, mod.i32.const(id)), mod.br(UNWIND_LABEL)], B.none);

    interface Out { expr: number; lo: number; hi: number }
    const callOf = (s: number): number | null => {
      const sid = B.getExpressionId(s);
      if (sid === B.CallId || sid === B.CallIndirectId) return s;
      if (sid === B.LocalSetId || sid === B.DropId) {
        const v = info(s).value as number;
        if (!v) return null;
        const vid = B.getExpressionId(v);
        if (vid === B.CallId || vid === B.CallIndirectId) return v;
      }
      return null;
    };
    const isFuel = (e: number) => { const id = B.getExpressionId(e); return (id === B.GlobalGetId || id === B.GlobalSetId) && info(e).name === fuelGlobal; };
    /**
     * One body, built twice: `guarded` false is the body a call runs normally (no resume-id test
     * anywhere: after each call that can unwind, one test); `guarded` true the body a rewind runs,
     * which steers to the resume point and then carries on normally. Resume ids are numbered the
     * same in both (the walk's order), so either body's unwind writes the id the guarded one resumes.
     */
    const build = (root: number, guarded: boolean): number => {
      let nextId = 1;
      /** A call statement, rewritten for the fuel; with its unwind test when it can unwind. */
      const callStatement = (s: number, call: number): Out => {
        const sid = B.getExpressionId(s);
        const target = B.getExpressionId(call) === B.CallId ? info(call).target as string : null;
        const callee = target === null ? undefined : fueledOf.get(target);
        const unwinds = canUnwind(call);
        const id = unwinds ? nextId++ : 0;
        if (unwinds) { points.add(call); if (!guarded) stats.resumePoints++; }
        const parts: number[] = [];
        if (guarded && unwinds && navWritten.size) parts.push(mod.if(rA(), mod.block(null, reloads(), B.none)));
        if (callee) {
          // A rewritten callee: the fuel goes in and comes back; while rewinding FUEL is UNWOUND.
          const cr = B.getFunctionInfo(callee.ref).results;
          const operands = [...(info(call).operands as number[]), fuel()];
          const fc = mod.call(callee.fueled, operands, resultsOf(cr));
          if (unwinds) points.add(fc);
          if (cr === B.none) parts.push(mod.local.set(FUEL, fc));
          else {
            const tl = tupleLocal(resultsOf(cr));
            const tget = () => mod.local.get(tl, resultsOf(cr));
            parts.push(mod.local.set(tl, fc));
            if (sid === B.LocalSetId) parts.push(mod.local.set(info(s).index as number, mod.tuple.extract(tget(), 0)));
            parts.push(mod.local.set(FUEL, mod.tuple.extract(tget(), 1)));
          }
          // An unwinding callee returns the fuel UNWOUND, which no fuel that is counted can be
          // (see UNWOUND): one test of a register on the path that does not suspend.
          if (unwinds) parts.push(mod.if(mod.i32.eq(fuel(), mod.i32.const(UNWOUND)), unwindHere(id)));
        } else if (target !== null && fuelFree.has(target)) {
          parts.push(s);
        } else {
          // Anything else sees the fuel in the global. While rewinding the global holds the new
          // slice's fuel, which the callee (rewinding too) must find, so it is not written then.
          const put = mod.global.set(fuelGlobal, fuel());
          const back = mod.global.get(fuelGlobal, B.i32);
          syncs.add(put).add(back);
          parts.push(guarded && unwinds ? mod.if(normal(), put) : put, s, mod.local.set(FUEL, back));
          if (unwinds) parts.push(mod.if(mod.i32.eq(state(), mod.i32.const(1)), unwindHere(id)));
        }
        if (guarded && unwinds) parts.push(mod.local.set(resumeAt, mod.i32.const(0)));
        return { expr: mod.block(null, parts, B.none), lo: unwinds ? id : 1, hi: unwinds ? id : 0 };
      };
      const leaf = (s: number): Out => {
        const sid = B.getExpressionId(s);
        if (sid === B.GlobalSetId && isFuel(s)) return { expr: mod.local.set(FUEL, info(s).value as number), lo: 1, hi: 0 };
        if (sid === B.LocalSetId && info(s).value && isFuel(info(s).value as number)) return { expr: mod.local.set(info(s).index as number, fuel()), lo: 1, hi: 0 };
        if (sid === B.ReturnId) {
          const v = info(s).value as number;
          return { expr: mod.return(result === B.none ? fuel() : mod.tuple.make([v, fuel()])), lo: 1, hi: 0 };
        }
        const call = callOf(s);
        if (call !== null) return callStatement(s, call);
        return { expr: s, lo: 1, hi: 0 };
      };
      const statement = (s: number): Out => {
        const sid = B.getExpressionId(s);
        const i = sid === B.BlockId || sid === B.IfId || sid === B.LoopId ? info(s) : ({ id: sid } as Info1);
        if (i.id === B.BlockId) {
          const kids = (i.children as number[]).map(statement);
          return { expr: mod.block((i.name as string) || null, guarded ? guardSequence(kids) : kids.map((k) => k.expr), B.auto), ...span(kids) };
        }
        if (i.id === B.IfId) {
          const t = statement(i.ifTrue as number);
          const e = i.ifFalse ? statement(i.ifFalse as number) : null;
          const sp = span(e ? [t, e] : [t]);
          // While rewinding, take the arm that holds the resume point.
          const cond = !guarded || sp.lo > sp.hi ? i.condition as number
            : t.lo <= t.hi ? mod.select(normal(), i.condition as number, within(t.lo, t.hi)) : mod.select(normal(), i.condition as number, mod.i32.const(0));
          return { expr: mod.if(cond, t.expr, e ? e.expr : undefined), ...sp };
        }
        if (i.id === B.LoopId) {
          const b = statement(i.body as number);
          return { expr: mod.loop(i.name as string, b.expr), lo: b.lo, hi: b.hi };
        }
        return leaf(s);
      };
      const span = (outs: Out[]): { lo: number; hi: number } => {
        const held = outs.filter((o) => o.lo <= o.hi);
        return held.length ? { lo: Math.min(...held.map((o) => o.lo)), hi: Math.max(...held.map((o) => o.hi)) } : { lo: 1, hi: 0 };
      };
      /**
       * A block's statements: runs without resume points are skipped together while rewinding. The
       * block is entered only with resumeAt 0 or in its own span (its parent's guard, or the arm an
       * `if` took, sees to that), so a statement whose span covers the block's needs no guard.
       */
      const guardSequence = (outs: Out[]): number[] => {
        const whole = span(outs);
        const out: number[] = [];
        let run: number[] = [];
        const flush = () => { if (run.length) out.push(mod.if(normal(), run.length === 1 ? run[0] : mod.block(null, run, B.auto))); run = []; };
        for (const o of outs) {
          if (unguarded && o.lo > o.hi && isSafeStatement(o.expr, children, FUEL)) { flush(); out.push(o.expr); continue; }
          if (o.lo > o.hi) { run.push(o.expr); continue; }
          flush();
          out.push(o.lo <= whole.lo && o.hi >= whole.hi ? o.expr : mod.if(mod.i32.or(normal(), within(o.lo, o.hi)), o.expr));
        }
        flush();
        return out;
      };
      // The body: in Flat IR a block whose last child may be the function's value (a local.get or
      // a constant), or a single statement. What it yields is returned with the fuel.
      const bi = info(root);
      const valued = result !== B.none && bi.type !== B.unreachable;
      const done = (v: number | null) => mod.return(result === B.none ? mod.block(null, [...(v === null ? [] : [v]), fuel()], B.i32) : mod.tuple.make([v!, fuel()]));
      if (bi.id === B.BlockId && valued) {
        const kids = bi.children as number[];
        const value = kids[kids.length - 1];
        const stmts = kids.slice(0, -1).map(statement);
        return done(mod.block((bi.name as string) || null, [...(guarded ? guardSequence(stmts) : stmts.map((o) => o.expr)), value], B.auto));
      }
      if (valued) return done(root); // a lone value: no statement, no call
      const o = statement(root);
      const stmt = !guarded || o.lo <= o.hi ? o.expr : mod.if(normal(), o.expr);
      return result === B.none ? done(stmt) : mod.block(null, [stmt, mod.unreachable()], B.unreachable);
    };
    // The rewind's copy of the body, its labels renamed (names are unique within a function).
    const second = plan.hot.has(f.original) ? mod.copyExpression(body) : body;
    for (const stack = [second]; stack.length;) {
      const e = stack.pop()!;
      const id = B.getExpressionId(e);
      const re = (n: string) => `${n}_rewind`;
      if (id === B.BlockId) { const n = X.Block.getName(e); if (n) X.Block.setName(e, re(n)); }
      else if (id === B.LoopId) X.Loop.setName(e, re(X.Loop.getName(e)));
      else if (id === B.BreakId) X.Break.setName(e, re(X.Break.getName(e)));
      else if (id === B.SwitchId) {
        for (let k = 0; k < X.Switch.getNumNames(e); k++) X.Switch.setNameAt(e, k, re(X.Switch.getNameAt(e, k)));
        X.Switch.setDefaultName(e, re(X.Switch.getDefaultName(e)));
      }
      stack.push(...children(e));
    }
    const normalBody = second !== body ? build(body, false) : null;
    const guardedBody = build(second, true);

    const store = (t: number, off: number, v: number) => {
      const p = curGet();
      if (t === B.i32) return mod.i32.store(off, 4, p, v);
      if (t === B.i64) return mod.i64.store(off, 8, p, v);
      if (t === B.f32) return mod.f32.store(off, 4, p, v);
      if (t === B.f64) return mod.f64.store(off, 8, p, v);
      return mod.v128.store(off, 16, p, v);
    };
    // Rewinding: the caller passes the fuel UNWOUND (a rewritten caller's FUEL while it rewinds,
    // or an adapter while the state is rewinding), which no call made normally passes.
    const restore = mod.if(mod.i32.eq(fuel(), mod.i32.const(UNWOUND)), mod.block(null, [
      mod.local.set(cur, mod.i32.sub(mod.i32.load(0, 4, data()), mod.i32.const(size))),
      mod.i32.store(0, 4, data(), curGet()),
      mod.local.set(resumeAt, mod.i32.load(0, 4, curGet())),
      ...frameLocals.map(({ t, idx }) => mod.local.set(idx, load(t, offsets.get(idx)!))),
      ...(normalBody === null ? [] : [guardedBody]),
    ], normalBody === null ? B.none : B.unreachable));
    const save = mod.block(null, [
      mod.local.set(cur, mod.i32.load(0, 4, data())),
      // A frame that does not fit is not written; `current` still moves past `end`, so
      // asyncify_stop_unwind traps (the runner reports a stack too deep to save).
      mod.if(mod.i32.le_u(mod.i32.add(curGet(), mod.i32.const(size)), mod.i32.load(4, 4, data())), mod.block(null, [
        mod.i32.store(0, 4, curGet(), rA()),
        ...frameLocals.map(({ t, idx }) => store(t, offsets.get(idx)!, mod.local.get(idx, t))),
      ], B.none)),
      mod.i32.store(0, 4, data(), mod.i32.add(curGet(), mod.i32.const(size))),
    ], B.none);
    const zero = zeroOf(result);
    // Unwinding returns the fuel UNWOUND: a rewritten caller tests only that (see callStatement).
    const unwound = zero === null ? mod.i32.const(UNWOUND) : mod.tuple.make([zero, mod.i32.const(UNWOUND)]);
    const full = mod.block(null, [
      mod.block(UNWIND_LABEL, [restore, normalBody ?? guardedBody], B.none),
      save,
      unwound,
    ], resultsOf(result));
    mod.addFunction(f.fueled, B.createType([...params, B.i32]), resultsOf(result), newVars, full);

    // Every call that can unwind must be a resume point, or a suspension would lose this frame;
    // and no access to the fuel global may be left but the write-backs around other calls.
    const stack = [full];
    while (stack.length) {
      const e = stack.pop()!;
      const id = B.getExpressionId(e);
      if ((id === B.CallId || id === B.CallIndirectId) && canUnwind(e) && !points.has(e)) {
        throw new InstrumentError(`function ${f.name}: a call that can unwind is not in a statement position after flattening (an instrumentation bug)`);
      }
      if (isFuel(e) && !syncs.has(e)) throw new InstrumentError(`function ${f.name}: an access of the fuel global is not in a statement position after flattening (an instrumentation bug)`);
      stack.push(...children(e));
    }
  }
  // Each original becomes an adapter of its own name and type, for the callers asyncify rewrote:
  // it passes the global's fuel in (UNWOUND while rewinding, so the callee resumes its frame) and
  // writes what comes back to the global unless the callee is unwinding (the global then holds
  // what the import that started the unwind left, which the runner counts).
  for (const f of rewrite) {
    const fi = B.getFunctionInfo(mod.getFunction(f.original));
    const params = B.expandType(fi.params);
    const rt = resultsOf(fi.results);
    const T = params.length;
    const args = [...params.map((t, i) => mod.local.get(i, t)), mod.select(mod.i32.eq(state(), mod.i32.const(2)), mod.i32.const(UNWOUND), mod.global.get(fuelGlobal, B.i32))];
    const got = () => mod.local.get(T, rt);
    const fuelBack = () => (fi.results === B.none ? got() : mod.tuple.extract(got(), 1));
    const adapter = mod.block(null, [
      mod.local.set(T, mod.call(f.fueled, args, rt)),
      mod.if(mod.i32.ne(fuelBack(), mod.i32.const(UNWOUND)), mod.global.set(fuelGlobal, fuelBack())),
      ...(fi.results === B.none ? [] : [mod.tuple.extract(got(), 0)]),
    ], fi.results);
    mod.removeFunction(f.original);
    mod.removeFunction(f.name);
    mod.addFunction(f.original, fi.params, fi.results, [rt], adapter);
  }
  // Flat IR is verbose: the function optimizer (-O2's, on these functions only) folds it back.
  for (const f of rewrite) { mod.optimizeFunction(mod.getFunction(f.fueled)); mod.optimizeFunction(mod.getFunction(f.original)); }
  return stats;
}
