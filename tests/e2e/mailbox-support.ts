// Shared by the tests of the security processor's syscalls (random.test.ts, sha256.test.ts): the
// real processor behind a link that records what crosses it, a processor that answers nothing (the
// test answers for it), response frames built byte by byte from SPEC.md, each app's log, and a WAT
// loop that writes bytes as hex for an app to log.
import { openSecurityProcessor, memoryStore, type SecurityProcessorLink } from "../../host/pluton/link.js";
import type { Device } from "../../host/device.js";

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
