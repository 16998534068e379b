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
  _BinaryenFunctionAddVar(f: number, type: number): number;
};

const UNWIND_LABEL = "__wasphere_unwind";

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
function isSafeStatement(e: number, children: Children): boolean {
  if (B.getExpressionId(e) !== B.LocalSetId) return false;
  const i = info(e);
  if (i.isTee || !i.value) return false;
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
  for (const f of funcs.values()) {
    if (!f.unwinds || f.importKey || escaping.has(f.name)) continue;
    const fi = B.getFunctionInfo(f.ref);
    if (B.expandType(fi.results).length > 1 || hasLoop(fi.body, children)) continue;
    if (!recursive(f.name, funcs) || unwindingCalls(fi.body, children, funcs) > RESUMABLE_MAX_CALLS || expressions(fi.body, children) > RESUMABLE_MAX_EXPRESSIONS) continue;
    if (![...B.expandType(fi.params), ...fi.vars].every((t) => SAVABLE.has(t))) continue;
    const copy = `__wasphere_resumable${copies.size}`;
    mod.addFunction(copy, fi.params, fi.results, fi.vars, mod.copyExpression(fi.body));
    copies.set(f.name, copy);
  }
  return { copies, unwinds: new Set([...funcs.values()].filter((f) => f.unwinds).map((f) => f.name)) };
}

/**
 * After asyncify (the copies in its removelist, so untouched): rewrites each copy to save and
 * resume its own frame through asyncify's state and data globals, points every call of the
 * original at it and removes the original. Frames are private to the function that writes them,
 * so a resumable frame and asyncify's sit on one stack. A copy that flattening leaves with a
 * local it cannot save is dropped and its original kept (asyncify's).
 */
export function finishResumable(mod: binaryen.Module, plan: ResumablePlan, children: Children, stateGlobal: string, dataGlobal: string): ResumeStats {
  const rewrite: { ref: number; name: string; original: string }[] = [];
  for (const [original, copy] of plan.copies) {
    const ref = mod.getFunction(copy);
    // Flat IR puts every call in a statement position; coalescing then shrinks the frames.
    mod.runPassesOnFunction(ref, ["flatten", "coalesce-locals", "reorder-locals"]);
    const fi = B.getFunctionInfo(ref);
    if ([...B.expandType(fi.params), ...fi.vars].every((t) => SAVABLE.has(t))) rewrite.push({ ref, name: copy, original });
    else mod.removeFunction(copy);
  }
  const canUnwind = (call: number): boolean => {
    const id = B.getExpressionId(call);
    if (id === B.CallIndirectId) return true;
    return id === B.CallId && plan.unwinds.has(info(call).target as string);
  };
  const state = () => mod.global.get(stateGlobal, B.i32);
  const data = () => mod.global.get(dataGlobal, B.i32);
  const stats: ResumeStats = { functions: rewrite.length, resumePoints: 0 };

  for (const f of rewrite) {
    const fi = B.getFunctionInfo(f.ref);
    const params = B.expandType(fi.params);
    const localTypes = [...params, ...fi.vars];
    const result = fi.results;
    const resumeAt = X._BinaryenFunctionAddVar(f.ref, B.i32);
    const cur = X._BinaryenFunctionAddVar(f.ref, B.i32);
    const rA = () => mod.local.get(resumeAt, B.i32);
    const normal = () => mod.i32.eqz(rA());
    /** resumeAt in [lo, hi] (ids are numbered depth first, so a subtree's ids are one range). */
    const within = (lo: number, hi: number) => lo === hi
      ? mod.i32.eq(rA(), mod.i32.const(lo))
      : mod.i32.le_u(mod.i32.sub(rA(), mod.i32.const(lo)), mod.i32.const(hi - lo));
    // Frame layout: the resume id, then each local at its aligned offset.
    const offsets: number[] = [];
    let size = 4;
    for (const t of localTypes) { const n = SAVABLE.get(t)!; size = Math.ceil(size / n) * n; offsets.push(size); size += n; }
    size = Math.ceil(size / 16) * 16;
    const curGet = () => mod.local.get(cur, B.i32);
    const load = (t: number, off: number) => {
      const p = curGet();
      if (t === B.i32) return mod.i32.load(off, 4, p);
      if (t === B.i64) return mod.i64.load(off, 8, p);
      if (t === B.f32) return mod.f32.load(off, 4, p);
      if (t === B.f64) return mod.f64.load(off, 8, p);
      return mod.v128.load(off, 16, p);
    };
    // Statements that only compute into a local, and cannot trap, run even while rewinding (a
    // guard would cost more than they do); each local they write is loaded from the frame again
    // at every resume point, before its call, so the call and what follows see the saved values.
    // Only in small functions (RELOADS_PER_FUNCTION loads in all): elsewhere the reloads would
    // cost more code than the guards they save.
    const navWritten = new Set<number>();
    let callSites = 0;
    const walk = [X.Function.getBody(f.ref)];
    while (walk.length) {
      const e = walk.pop()!;
      if (isSafeStatement(e, children)) navWritten.add(info(e).index as number);
      const id = B.getExpressionId(e);
      if ((id === B.CallId || id === B.CallIndirectId) && canUnwind(e)) callSites++;
      walk.push(...children(e));
    }
    const unguarded = navWritten.size * callSites <= RELOADS_PER_FUNCTION;
    if (!unguarded) navWritten.clear();
    const reloads = () => [...navWritten].map((idx) => mod.local.set(idx, load(localTypes[idx], offsets[idx])));
    let nextId = 1;
    const points = new Set<number>();

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
    const statement = (s: number): Out => {
      const sid = B.getExpressionId(s);
      const i = sid === B.BlockId || sid === B.IfId || sid === B.LoopId ? info(s) : ({ id: sid } as Info1);
      if (i.id === B.BlockId) {
        const kids = (i.children as number[]).map(statement);
        if (span(kids).lo > span(kids).hi) return { expr: s, lo: 1, hi: 0 };
        return { expr: mod.block((i.name as string) || null, guardSequence(kids), B.auto), ...span(kids) };
      }
      if (i.id === B.IfId) {
        const t = statement(i.ifTrue as number);
        const e = i.ifFalse ? statement(i.ifFalse as number) : null;
        const all = e ? [t, e] : [t];
        const sp = span(all);
        if (sp.lo > sp.hi) return { expr: s, ...sp };
        // While rewinding, take the arm that holds the resume point.
        const cond = t.lo <= t.hi ? mod.select(normal(), i.condition as number, within(t.lo, t.hi)) : mod.select(normal(), i.condition as number, mod.i32.const(0));
        return { expr: mod.if(cond, t.expr, e ? e.expr : undefined), ...sp };
      }
      if (i.id === B.LoopId) {
        const body = statement(i.body as number);
        if (body.lo > body.hi) return { expr: s, lo: 1, hi: 0 };
        return { expr: mod.loop(i.name as string, body.expr), lo: body.lo, hi: body.hi };
      }
      const call = callOf(s);
      if (call !== null && canUnwind(call)) {
        const id = nextId++;
        points.add(call);
        stats.resumePoints++;
        // Unwinding: save this frame (id) in the one block at the end; otherwise carry on normally.
        return {
          expr: mod.block(null, [
            ...(navWritten.size ? [mod.if(rA(), mod.block(null, reloads(), B.none))] : []),
            s,
            mod.if(mod.i32.eq(state(), mod.i32.const(1)), mod.block(null, [mod.local.set(resumeAt, mod.i32.const(id)), mod.br(UNWIND_LABEL)], B.none)),
            mod.local.set(resumeAt, mod.i32.const(0)),
          ], B.none),
          lo: id, hi: id,
        };
      }
      return { expr: s, lo: 1, hi: 0 };
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
        if (unguarded && o.lo > o.hi && isSafeStatement(o.expr, children)) { flush(); out.push(o.expr); continue; }
        if (o.lo > o.hi) { run.push(o.expr); continue; }
        flush();
        out.push(o.lo <= whole.lo && o.hi >= whole.hi ? o.expr : mod.if(mod.i32.or(normal(), within(o.lo, o.hi)), o.expr));
      }
      flush();
      return out;
    };

    // The body: in Flat IR a block whose last child may be the function's value (a local.get or
    // a constant), or a single statement.
    const body = X.Function.getBody(f.ref);
    let newBody: number;
    const bi = info(body);
    const valued = result !== B.none && bi.type !== B.unreachable;
    if (bi.id === B.BlockId && valued) {
      const children = bi.children as number[];
      const value = children[children.length - 1];
      const kids = children.slice(0, -1).map(statement);
      newBody = mod.block((bi.name as string) || null, [...guardSequence(kids), value], B.auto);
    } else if (valued) {
      newBody = body; // a lone value: no statement, no call
    } else {
      const o = statement(body);
      newBody = o.lo <= o.hi ? o.expr : mod.if(normal(), o.expr);
      if (result !== B.none) newBody = mod.block(null, [newBody, mod.unreachable()], B.auto);
    }

    const store = (t: number, off: number, v: number) => {
      const p = curGet();
      if (t === B.i32) return mod.i32.store(off, 4, p, v);
      if (t === B.i64) return mod.i64.store(off, 8, p, v);
      if (t === B.f32) return mod.f32.store(off, 4, p, v);
      if (t === B.f64) return mod.f64.store(off, 8, p, v);
      return mod.v128.store(off, 16, p, v);
    };
    const restore = mod.if(mod.i32.eq(state(), mod.i32.const(2)), mod.block(null, [
      mod.local.set(cur, mod.i32.sub(mod.i32.load(0, 4, data()), mod.i32.const(size))),
      mod.i32.store(0, 4, data(), curGet()),
      mod.local.set(resumeAt, mod.i32.load(0, 4, curGet())),
      ...localTypes.map((t, idx) => mod.local.set(idx, load(t, offsets[idx]))),
    ], B.none));
    const save = mod.block(null, [
      mod.local.set(cur, mod.i32.load(0, 4, data())),
      // A frame that does not fit is not written; `current` still moves past `end`, so
      // asyncify_stop_unwind traps (the runner reports a stack too deep to save).
      mod.if(mod.i32.le_u(mod.i32.add(curGet(), mod.i32.const(size)), mod.i32.load(4, 4, data())), mod.block(null, [
        mod.i32.store(0, 4, curGet(), rA()),
        ...localTypes.map((t, idx) => store(t, offsets[idx], mod.local.get(idx, t))),
      ], B.none)),
      mod.i32.store(0, 4, data(), mod.i32.add(curGet(), mod.i32.const(size))),
    ], B.none);
    const zero = result === B.none ? null : result === B.i32 ? mod.i32.const(0) : result === B.i64 ? (mod.i64.const as unknown as (v: bigint) => number)(0n)
      : result === B.f32 ? mod.f32.const(0) : result === B.f64 ? mod.f64.const(0) : mod.v128.const(new Array(16).fill(0));
    X.Function.setBody(f.ref, mod.block(null, [
      mod.local.set(resumeAt, mod.i32.const(0)),
      restore,
      mod.block(UNWIND_LABEL, [result === B.none ? mod.block(null, [newBody, mod.return()], B.auto) : mod.return(newBody)], B.none),
      save,
      ...(zero === null ? [] : [zero]),
    ], result));

    // Every call that can unwind must be a resume point, or a suspension would lose this frame.
    const stack = [X.Function.getBody(f.ref)];
    while (stack.length) {
      const e = stack.pop()!;
      const id = B.getExpressionId(e);
      if ((id === B.CallId || id === B.CallIndirectId) && canUnwind(e) && !points.has(e)) {
        throw new InstrumentError(`function ${f.name}: a call that can unwind is not in a statement position after flattening (an instrumentation bug)`);
      }
      stack.push(...children(e));
    }
  }

  // Every call of an original now reaches its resumable copy; nothing else reaches an original.
  const renamed = new Map(rewrite.map((f) => [f.original, f.name]));
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const f = B.getFunctionInfo(mod.getFunctionByIndex(i));
    if (f.module) continue;
    const stack = [f.body];
    while (stack.length) {
      const e = stack.pop()!;
      if (B.getExpressionId(e) === B.CallId) { const to = renamed.get(info(e).target as string); if (to) X.Call.setTarget(e, to); }
      stack.push(...children(e));
    }
  }
  for (const f of rewrite) mod.removeFunction(f.original);
  // Flat IR is verbose: the function optimizer (-O2's, on these functions only) folds it back.
  for (const f of rewrite) mod.optimizeFunction(f.ref);
  return stats;
}
