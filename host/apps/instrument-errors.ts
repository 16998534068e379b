// The instrumenter's errors, apart from the instrumenter: the host that only waits for a worker's
// answer (instrument-async.ts) makes and matches them without loading binaryen.
// Must not: import binaryen or the instrumenter.

/** The module breaks the app contract, or the install budget; the message names the offender in one line. */
export class InstrumentError extends Error {}
/** binaryen itself failed (aborted, or ran out of stack) on the module: its state may be damaged. */
export class InstrumenterCrash extends InstrumentError {}
