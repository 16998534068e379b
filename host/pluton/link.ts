// The security processor as a device is wired to it: the device posts request frames through the
// link and the processor's every response goes to whoever the link's `answer` names (the device
// sets it to its mailbox-deliver; SPEC.md "Security processor mailbox").
// Invariants: a response never arrives inside post (the processor answers from a microtask or a
// promise); a response that arrives before `answer` is set is kept and handed over when it is.
// Must not: read or change frames (the core checks them), or throw out of post.
import { PlutonProcessor, type PlutonStore, type PlutonState } from "./processor.js";

export interface SecurityProcessorLink {
  post(frame: Uint8Array): void;
  /** Set by the device: where each response goes. */
  answer: ((frame: Uint8Array) => void) | null;
  /** The device calls it as it takes the link for a core: the processor's boot stage ends (no boot measurement is latched after it). */
  endBoot(): void;
}

export async function openSecurityProcessor(store: PlutonStore): Promise<{ link: SecurityProcessorLink; processor: PlutonProcessor }> {
  const early: Uint8Array[] = [];
  let answer: ((frame: Uint8Array) => void) | null = null;
  const processor = await PlutonProcessor.open(store, (frame) => (answer ? answer(frame) : early.push(frame)));
  const link: SecurityProcessorLink = {
    post: (frame) => processor.post(frame),
    endBoot: () => processor.endBoot(),
    get answer() { return answer; },
    set answer(fn) { answer = fn; if (fn) for (const f of early.splice(0)) fn(f); },
  };
  return { link, processor };
}

/** A store that keeps the processor's state in memory only (a device with no folder, tests). */
export function memoryStore(): PlutonStore {
  let saved: PlutonState | null = null;
  return { async load() { return saved ? structuredClone(saved) : null; }, async save(state) { saved = structuredClone(state); } };
}
