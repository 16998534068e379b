// The device capability (SPEC.md, "Device capability"): a 104-byte statement, signed by a key the
// device's security processor trusts, that one device (by its 16-byte id) may be put in
// development mode. `wasphere device capability create` makes one; the processor checks it in
// `applyCapability` (host/pluton/processor.ts).
// Invariants: the signature covers bytes [0, CAPABILITY_SIGNED_BYTES) exactly; a decoded
// capability has the magic, version 1, the one capability this format knows and no trailing bytes.
// Memory: one capability. Must not: accept a capability of any other shape.
export const CAPABILITY_MAGIC = 0x43445357; // "WSDC" little-endian
export const CAPABILITY_VERSION = 1;
export const CAPABILITY_ENABLE_DEVELOPMENT = 1;
export const CAPABILITY_SIGNED_BYTES = 40;
export const CAPABILITY_BYTES = 104;

export class CapabilityError extends Error {}

export interface Capability { capability: number; deviceId: Uint8Array; keyId: Uint8Array; signature: Uint8Array }

export function decodeCapability(bytes: Uint8Array): Capability {
  if (bytes.length !== CAPABILITY_BYTES) throw new CapabilityError(`a device capability is ${CAPABILITY_BYTES} bytes; this file is ${bytes.length}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== CAPABILITY_MAGIC) throw new CapabilityError("not a device capability (bad magic; expected \"WSDC\")");
  if (dv.getUint16(4, true) !== CAPABILITY_VERSION) throw new CapabilityError(`device capability version ${dv.getUint16(4, true)} is not 1`);
  const capability = dv.getUint16(6, true);
  if (capability !== CAPABILITY_ENABLE_DEVELOPMENT) throw new CapabilityError(`device capability ${capability} is unknown (1: enable development)`);
  return { capability, deviceId: bytes.slice(8, 24), keyId: bytes.slice(24, 40), signature: bytes.slice(40, 104) };
}

/** A capability enabling development on device `deviceId` (16 bytes), signed by `signer`. */
export async function createCapability(deviceId: Uint8Array, signer: { keyId: Uint8Array; sign(b: Uint8Array): Promise<Uint8Array> }): Promise<Uint8Array> {
  if (deviceId.length !== 16) throw new CapabilityError(`a device id is 16 bytes (32 hex digits); got ${deviceId.length}`);
  const out = new Uint8Array(CAPABILITY_BYTES);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, CAPABILITY_MAGIC, true);
  dv.setUint16(4, CAPABILITY_VERSION, true);
  dv.setUint16(6, CAPABILITY_ENABLE_DEVELOPMENT, true);
  out.set(deviceId, 8);
  out.set(signer.keyId, 24);
  out.set(await signer.sign(out.subarray(0, CAPABILITY_SIGNED_BYTES)), 40);
  return out;
}
