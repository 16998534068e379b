// printable: the one function that makes text which came from an app safe to print.
//
// An app controls its log text, its manifest's Name and EntryPoint, the names of its imports and
// exports, and (through symlinks it ships) file paths in messages about its package. Printed raw,
// a newline in any of them starts a line the app wrote itself (`audit: blink: ... denied`), and an
// ESC byte drives the terminal. Every place where such text reaches the terminal or a log passes
// it through `printable` (the CLI's event lines, install and start refusals, audit sentences).
// Invariants: the result holds no C0 or C1 control character, no DEL, no line or paragraph
// separator and no bidirectional formatting character, so it is exactly one line that reads the
// same in any terminal; everything else passes unchanged. It is idempotent (backslashes are not
// doubled), so text escaped at one layer and again at the next reads the same: a literal `\x1b`
// that an app prints is then indistinguishable from an escaped ESC, which is harmless.
// Must not: depend on Node APIs (the device runs in any JS engine), or throw on any string.

/** C0 controls, DEL, C1 controls, U+2028/U+2029, and the bidi embeddings, overrides and isolates. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** `text` with every character that could end a line or drive a terminal shown as an escape. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

/**
 * Text of several lines (a compiler's log) made safe to print: each line as `printable` makes it,
 * and every line after the first indented with "  | ", so no line of it can pass for one the
 * device printed. Idempotent on its own output.
 */
export function printableLines(text: string): string {
  return text.split("\n").map((line, i) => {
    const shown = printable(line);
    return i === 0 || shown.startsWith("  | ") ? shown : `  | ${shown}`;
  }).join("\n");
}
