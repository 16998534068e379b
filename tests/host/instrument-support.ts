// Shared by the instrumenter's test files: the options the device instruments a 256 KiB app with,
// and the assertion that a module is refused with exactly one message.
import assert from "node:assert/strict";
import { instrumentApp, InstrumentError, type InstrumentOptions } from "../../host/apps/instrument.js";
import { appInstrumentOptions } from "../../host/apps/imports.js";

export const OPTS: InstrumentOptions = appInstrumentOptions(4 * 65536);

/** `bytes` is refused by the instrumenter with an InstrumentError whose message is exactly `message`. */
export function refused(bytes: Uint8Array, message: string): void {
  assert.throws(() => instrumentApp(bytes, OPTS), (err: Error) => {
    assert.ok(err instanceof InstrumentError, `an InstrumentError, got ${err}`);
    assert.equal(err.message, message);
    return true;
  });
}
