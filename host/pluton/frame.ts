// Mailbox frames between the core and the security processor (SPEC.md, "Security processor
// mailbox"): the byte layout, in one place, for both sides. All integers little-endian.
// Request: u16 command, u16 request id (1..65535), u32 payload bytes, payload.
// Response: u16 request id (0 when the request had none readable), u16 status, u32 payload bytes, payload.
// Must not: allocate beyond one frame, or accept a frame whose length field disagrees with it.
export const FRAME_HEADER_BYTES = 8;
export const MAILBOX_MAX_PAYLOAD_BYTES = 4096;

export const CMD = {
  RANDOM: 1, SHA256_INIT: 2, SHA256_UPDATE: 3, SHA256_FINAL: 4, ECDSA_VERIFY: 5,
  SIGN: 6, DEVICE_ID: 7, ATTEST: 8, COUNTER_READ: 9, COUNTER_ADVANCE: 10, VERIFY_TRUSTED: 11,
} as const;

export const STATUS = {
  OK: 0, SHORT: 1, LENGTH: 2, OVERSIZED: 3, UNKNOWN_COMMAND: 4, DUPLICATE_ID: 5,
  BAD_PAYLOAD: 6, NO_CONTEXT: 7, BUSY: 8, NO_COUNTER: 9, COUNTER_BACKWARDS: 10, BAD_ID: 11, BOOT_ENDED: 12,
} as const;

/**
 * VERIFY_TRUSTED's roles (which trusted roots a signature is checked against), verdicts and modes.
 * BOOT is the boot loader's check of the OS image it is about to boot: the OS roots, and the one
 * verify that may latch the boot measurement; OS is any other check of an OS image (one staged).
 */
export const ROLE = { OS: 1, APP: 2, BOOT: 3 } as const;
export const VERDICT = { VERIFIED: 0, UNTRUSTED_KEY: 1, BAD_SIGNATURE: 2 } as const;
export const MODE = { FIELD: 0, DEVELOPMENT: 1 } as const;
export const VERIFY_TRUSTED_REQUEST_BYTES = 88;
export const VERIFY_TRUSTED_RESPONSE_BYTES = 40;

/** Both frame kinds share one header shape: two u16 fields, the u32 payload length, the payload. */
function frameOf(first: number, second: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, first, true);
  dv.setUint16(2, second, true);
  dv.setUint32(4, payload.length, true);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export const encodeRequest = (command: number, requestId: number, payload: Uint8Array) => frameOf(command, requestId, payload);
export const encodeResponse = (requestId: number, status: number, payload: Uint8Array = new Uint8Array(0)) => frameOf(requestId, status, payload);

export type Decoded<T> = { ok: true; value: T } | { ok: false; requestId: number; status: number };

export function decodeRequest(frame: Uint8Array): Decoded<{ command: number; requestId: number; payload: Uint8Array }> {
  if (frame.length < FRAME_HEADER_BYTES) return { ok: false, requestId: 0, status: STATUS.SHORT };
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const command = dv.getUint16(0, true), requestId = dv.getUint16(2, true), length = dv.getUint32(4, true);
  if (requestId === 0) return { ok: false, requestId: 0, status: STATUS.BAD_ID };
  if (length > MAILBOX_MAX_PAYLOAD_BYTES) return { ok: false, requestId, status: STATUS.OVERSIZED };
  if (length !== frame.length - FRAME_HEADER_BYTES) return { ok: false, requestId, status: STATUS.LENGTH };
  return { ok: true, value: { command, requestId, payload: frame.slice(FRAME_HEADER_BYTES) } };
}

export function decodeResponse(frame: Uint8Array): { requestId: number; status: number; payload: Uint8Array } | null {
  if (frame.length < FRAME_HEADER_BYTES) return null;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const length = dv.getUint32(4, true);
  if (length !== frame.length - FRAME_HEADER_BYTES) return null;
  return { requestId: dv.getUint16(0, true), status: dv.getUint16(2, true), payload: frame.slice(FRAME_HEADER_BYTES) };
}
