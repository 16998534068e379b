// control/protocol: the control endpoint's wire format (SPEC.md, "Control endpoint"): one JSON
// object per line each way, the verbs and their fields, the bounds, and the checks both ends make.
// Invariants: a request that passes `parseRequest` names a known verb with exactly its fields, a
// lowercase ComponentId and, for deploy, package bytes within the bound; every error message is
// one printable line.
// Must not: do any I/O, or hold state.
import { ControlError } from "../device-control.js";
import { printable } from "../printable.js";

export const CONTROL_SOCKET = "control.sock";
export const CONTROL_PROTOCOL_VERSION = 1;
/** Bytes a request may hold besides the base64 text of a package. */
export const REQUEST_OVERHEAD_BYTES = 1024;
/** The most bytes one response line may hold (the client refuses a longer one). */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** The longest request id string. */
export const MAX_ID_CHARS = 64;

export const COMPONENT_VERBS = ["remove", "start", "stop", "status", "quota", "memoryStats"] as const;
export const VERBS = ["hello", "listInstalled", "deploy", ...COMPONENT_VERBS] as const;
export type Verb = (typeof VERBS)[number];
export type RequestId = number | string;

export type Request =
  | { id: RequestId; verb: "hello" | "listInstalled" }
  | { id: RequestId; verb: "deploy"; packageBytes: Uint8Array }
  | { id: RequestId; verb: (typeof COMPONENT_VERBS)[number]; componentId: string };

export interface HelloReport { protocol: number; maxPackageBytes: number; maxRequestBytes: number }

/** The longest request line (without its newline) for packages of at most `maxPackageBytes`. */
export const maxRequestBytes = (maxPackageBytes: number) => 4 * Math.ceil(maxPackageBytes / 3) + REQUEST_OVERHEAD_BYTES;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A value from a request or a command line, quoted, escaped and cut short for a message. */
export const shown = (value: unknown): string => {
  const text = printable(typeof value === "string" ? JSON.stringify(value) : String(JSON.stringify(value)));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** The ComponentId in its lowercase form; throws ControlError("bad-request") when `value` is not a GUID. */
export function checkComponentId(value: unknown, what = "componentId"): string {
  if (typeof value !== "string" || !GUID.test(value)) throw new ControlError("bad-request", `${what}: ${shown(value)} is not a ComponentId (a GUID: 8-4-4-4-12 hex digits)`);
  return value.toLowerCase();
}

function checkId(value: unknown): RequestId {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === "string" && value.length >= 1 && value.length <= MAX_ID_CHARS) return value;
  throw new ControlError("bad-request", `id: ${shown(value)} is not a request id (an integer from 0 to 2^53-1, or a string of 1 to ${MAX_ID_CHARS} characters)`);
}

/** The id of a request line that failed to parse, when it has a usable one; else null. */
export function idOf(value: unknown): RequestId | null {
  if (typeof value !== "object" || value === null || !("id" in value)) return null;
  try { return checkId((value as { id: unknown }).id); } catch { return null; }
}

/** A request line (without its newline) as text, checked field by field. */
export function parseRequest(line: string, maxPackageBytes: number): Request {
  let value: unknown;
  try { value = JSON.parse(line); } catch (err) {
    throw new ControlError("bad-request", `malformed request: not JSON (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ControlError("bad-request", "malformed request: not a JSON object");
  const o = value as Record<string, unknown>;
  const id = checkId(o.id);
  const verb = o.verb;
  if (typeof verb !== "string" || !(VERBS as readonly string[]).includes(verb)) {
    throw new ControlError("bad-request", `verb: ${shown(verb)} is not a verb (${VERBS.join(", ")})`);
  }
  const fields = verb === "deploy" ? ["package"] : (COMPONENT_VERBS as readonly string[]).includes(verb) ? ["componentId"] : [];
  for (const k of Object.keys(o)) {
    if (k !== "id" && k !== "verb" && !fields.includes(k)) throw new ControlError("bad-request", `${shown(k)}: not a field of ${verb}`);
  }
  for (const k of fields) if (!(k in o)) throw new ControlError("bad-request", `${verb}: ${k} is missing`);
  if (verb === "deploy") return { id, verb, packageBytes: decodePackage(o.package, maxPackageBytes) };
  if (fields.length) return { id, verb: verb as (typeof COMPONENT_VERBS)[number], componentId: checkComponentId(o.componentId) };
  return { id, verb: verb as "hello" | "listInstalled" };
}

function decodePackage(value: unknown, maxPackageBytes: number): Uint8Array {
  if (typeof value !== "string") throw new ControlError("bad-request", "package: not a string (the image package as base64)");
  const bytes = value.length / 4 * 3 - (value.endsWith("==") ? 2 : value.endsWith("=") ? 1 : 0);
  if (value.length % 4 !== 0 || !BASE64.test(value)) throw new ControlError("bad-request", "package: not base64 (RFC 4648 alphabet, padded, no line breaks)");
  if (bytes === 0) throw new ControlError("bad-request", "package: empty");
  if (bytes > maxPackageBytes) throw new ControlError("bad-request", `package: ${bytes} bytes; this device takes at most ${maxPackageBytes} (its apps partition, and the format's limit)`);
  return new Uint8Array(Buffer.from(value, "base64"));
}

export const okLine = (id: RequestId | null, result: unknown) => JSON.stringify({ id, ok: true, result: result ?? null }) + "\n";
export const errorLine = (id: RequestId | null, err: ControlError) => JSON.stringify({ id, ok: false, error: { code: err.code, message: oneLine(err.message) } }) + "\n";
export const oneLine = (text: string) => printable(text.split("\n")[0]);

/** Any error as the ControlError the endpoint answers with: ControlErrors as they are, anything else "internal". */
export function asControlError(err: unknown): ControlError {
  if (err instanceof ControlError) return new ControlError(err.code, oneLine(err.message));
  return new ControlError("internal", oneLine(err instanceof Error ? err.message : String(err)));
}
