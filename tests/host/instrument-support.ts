// Shared by the instrumenter's test files: the options the device instruments a 256 KiB app with,
// and the assertion that a module is refused with exactly one message.
import assert from "node:assert/strict";
import binaryen from "binaryen";
import { APP_FEATURES, instrumentApp, InstrumentError, type InstrumentOptions } from "../../host/apps/instrument.js";
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

/** A test module from WAT text, with the features apps may use; the text must validate. */
export function wat(text: string): Uint8Array {
  const mod = binaryen.parseText(text);
  mod.setFeatures(APP_FEATURES);
  assert.ok(mod.validate(), "test WAT is valid");
  const bytes = mod.emitBinary();
  mod.dispose();
  return bytes;
}
