// Shared by the tests of the security processor's syscalls (random.test.ts, sha256.test.ts,
// mailbox-core-random.test.ts): the real processor behind a link that records what crosses it, a
// processor that answers nothing (the test answers for it), response frames built byte by byte
// from SPEC.md, each app's log, a WAT loop that writes bytes as hex for an app to log, and the
// apps that wait on the mailbox (asker: random_bytes; hasher: sha256) or run beside them (bystander).
import { openSecurityProcessor, memoryStore, type SecurityProcessorLink } from "../../host/pluton/link.js";
import type { Device } from "../../host/device.js";
import { app, IMPORT } from "./support.js";

/** The real processor behind a link that records every response it sends. */
export async function recordedProcessor() {
  const { link } = await openSecurityProcessor(memoryStore());
  const answers: Buffer[] = [];
  const posts: Buffer[] = [];
  const spy: SecurityProcessorLink = {
    post: (f) => { posts.push(Buffer.from(f)); link.post(f); },
    get answer() { return link.answer; },
    set answer(fn) { link.answer = fn && ((f: Uint8Array) => { answers.push(Buffer.from(f)); fn(f); }); },
    endBoot: () => link.endBoot(),
  };
  return { spy, answers, posts };
}

/** A processor that answers nothing: it keeps what the core posted, for the test to answer. */
export function heldProcessor() {
  const posts: Buffer[] = [];
  const link: SecurityProcessorLink = { post: (f) => { posts.push(Buffer.from(f)); }, answer: null, endBoot: () => {} };
  return { link, posts };
}

export const response = (id: number, status: number, payload: Uint8Array) => {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(id, 0); h.writeUInt16LE(status, 2); h.writeUInt32LE(payload.length, 4);
  return new Uint8Array(Buffer.concat([h, Buffer.from(payload)]));
};
/** Each app's log lines joined, in the order the apps first logged. */
export const logs = (dev: Device) => {
  const by = new Map<string, string>();
  for (const e of dev.events.of("log")) by.set(e.app, (by.get(e.app) ?? "") + e.text);
  return [...by].map(([name, text]) => `${name}: ${text}`);
};
export const runSteps = (dev: Device) => { while (dev.step()) { /* until nothing is ready */ } };

/**
 * WAT instructions writing the `count` (an i32 expression) bytes at `src` as lowercase hex at
 * `dst`, two digits a byte; they use the locals $i (from 0), $b and $d.
 */
export function hexLoop(src: number, dst: number, count: string): string {
  const digit = `(i32.add (local.get $d) (select (i32.const 48) (i32.const 87) (i32.lt_u (local.get $d) (i32.const 10))))`;
  return `(loop $hex
        (local.set $b (i32.load8_u (i32.add (i32.const ${src}) (local.get $i))))
        (local.set $d (i32.shr_u (local.get $b) (i32.const 4)))
        (i32.store8 (i32.add (i32.const ${dst}) (i32.shl (local.get $i) (i32.const 1))) ${digit})
        (local.set $d (i32.and (local.get $b) (i32.const 15)))
        (i32.store8 (i32.add (i32.const ${dst + 1}) (i32.shl (local.get $i) (i32.const 1))) ${digit})
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $hex (i32.lt_s (local.get $i) ${count})))`;
}

const RANDOM = `(import "applibs" "random_bytes" (func $random (param i32 i32) (result i32)))`;
const SHA = `(import "applibs" "sha256" (func $sha (param i32 i32 i32) (result i32)))`;
const DATA = 8192;

/** An app that asks for `len` bytes at `ptr`, logs them as hex when it got them, and exits with the result. */
export function asker(len: number, ptr = DATA): Uint8Array {
  const HEX = 8704;
  return app(`${IMPORT.exit} ${IMPORT.log} ${RANDOM}`, `
    (local $r i32) (local $i i32) (local $b i32) (local $d i32)
    (local.set $r (call $random (i32.const ${ptr}) (i32.const ${len})))
    (if (i32.gt_s (local.get $r) (i32.const 0)) (then
      ${hexLoop(ptr, HEX, "(local.get $r)")}
      ;; In lines of 128 hex digits (the core cuts a longer log line).
      (local.set $i (i32.const 0))
      (loop $lines
        (local.set $d (i32.sub (i32.shl (local.get $r) (i32.const 1)) (local.get $i)))
        (drop (call $log (i32.add (i32.const ${HEX}) (local.get $i))
          (select (i32.const 128) (local.get $d) (i32.gt_s (local.get $d) (i32.const 128)))))
        (local.set $i (i32.add (local.get $i) (i32.const 128)))
        (br_if $lines (i32.lt_s (local.get $i) (i32.shl (local.get $r) (i32.const 1)))))))
    (call $exit (local.get $r)) (i32.const 0)`);
}

/** An app that logs "ran" and exits 5: it runs while another app waits. */
export const bystander = app(`${IMPORT.exit} ${IMPORT.log}`, `(drop (call $log (i32.const ${DATA}) (i32.const 3))) (call $exit (i32.const 5)) (i32.const 0)`, `(data (i32.const ${DATA}) "ran")`);

/** The bytes a hasher hashes: (i * 7) & 255. */
export const pattern = (len: number) => Uint8Array.from({ length: len }, (_, i) => (i * 7) & 255);

/** An app that fills `len` bytes at `data` with pattern(len), hashes them into `out`, logs the digest in hex and exits with the result. */
export function hasher(len: number, data = DATA, out = 16384): Uint8Array {
  const HEX = 16512;
  return app(`${IMPORT.exit} ${IMPORT.log} ${SHA}`, `
    (local $r i32) (local $i i32) (local $b i32) (local $d i32)
    (block $filled (loop $fill
      (br_if $filled (i32.ge_s (local.get $i) (i32.const ${Math.max(0, Math.min(len, 65536 - data))})))
      (i32.store8 (i32.add (i32.const ${data}) (local.get $i)) (i32.mul (local.get $i) (i32.const 7)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (local.set $r (call $sha (i32.const ${data}) (i32.const ${len}) (i32.const ${out})))
    (if (i32.eq (local.get $r) (i32.const 32)) (then
      (local.set $i (i32.const 0))
      ${hexLoop(out, HEX, "(i32.const 32)")}
      (drop (call $log (i32.const ${HEX}) (i32.const 64)))))
    (call $exit (local.get $r)) (i32.const 0)`);
}
