// The simulated security processor: a component of its own, reached only through post(frame);
// it answers later through the deliver callback it was made with (frames in ./frame.ts, SPEC.md
// "Security processor mailbox"). Crypto is WebCrypto only, so a browser host runs the same code.
// Invariants: the device private key exists here only as a non-extractable CryptoKey (its PKCS8
// bytes are in the store, which only this module reads); every frame gets exactly one response,
// bad ones a status; counters only move up and are persisted before the answer is sent.
// Memory budget: at most MAX_OUTSTANDING requests of MAILBOX_MAX_PAYLOAD_BYTES, and at most
// SHA256_MAX_CONTEXTS contexts of SHA256_CONTEXT_MAX_BYTES each (WebCrypto's digest is one-shot,
// so a streamed hash buffers its input until final).
// Trust: the roots (public keys, each for the OS or for apps) and the mode (field or development)
// are set only through the host-side management calls below (`provision` when the device is made,
// `applyCapability` / `clearCapability` for the mode), never through the mailbox. VERIFY_TRUSTED
// checks a signature over a hash context's bytes against the roots of one role. The boot
// measurement, which ATTEST puts first, is what booted: only a role-3 (BOOT) verify latches it, the
// boot loader's check of the image it boots, and only in the boot stage, which ends at that latch
// or when the host hands the processor to a core (`endBoot`), whichever comes first. An OS image
// verified with role 1 (an update being staged) is never a measurement, so a core that booted
// without the boot loader attests zeros, never the image it staged.
// Must not: throw out of post, reveal the private key, let a counter go backwards, or let a
// mailbox request change the roots, the mode or the boot measurement once latched, or latch one
// after the boot stage ended.
import {
  CMD, decodeRequest, encodeResponse, MAILBOX_MAX_PAYLOAD_BYTES, STATUS, ROLE, VERDICT, MODE, VERIFY_TRUSTED_REQUEST_BYTES,
} from "./frame.js";
import { decodeCapability, CapabilityError, CAPABILITY_SIGNED_BYTES } from "./capability.js";

const subtle = globalThis.crypto.subtle;
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const buf = (b: Uint8Array): BufferSource => b as unknown as BufferSource;

// The apps' MAILBOX_MAX_OUTSTANDING (16) and the core's own three (appmgr/verify: a package check,
// an attestation; drivers/update: a feed check or a staged package's read-back hash).
export const MAX_OUTSTANDING = 19;
export const SHA256_MAX_CONTEXTS = 4;
// A whole image package (PKG_MAX_BYTES) or OS image streams through one context to VERIFY_TRUSTED.
export const SHA256_CONTEXT_MAX_BYTES = 2 << 20;
export const COUNTER_COUNT = 8;
export const RANDOM_MAX_BYTES = 256;
export const ATTEST_NONCE_BYTES = 32;
// The caller's measurements (one per running app package, MAX_APPS); the boot measurement comes first.
export const ATTEST_MAX_MEASUREMENTS = 64;
export const ATTEST_MAGIC = 0x54415357; // "WSAT" little-endian

export type RootRole = "os" | "app";
/** A trusted root: a P-256 public key (SPKI DER, base64) and what it may sign. */
export interface TrustedRoot { role: RootRole; spki: string }

/** What the processor keeps across power cycles. */
export interface PlutonState {
  format: 1; devicePkcs8: string; counters: string[]; trustedRoots: TrustedRoot[];
  /** Absent in a store written before modes existed: field. */
  mode?: "field" | "development";
  /** The device capability (base64) that put the device in development mode. */
  capability?: string;
}

/** A refused management call (provision, capability): a one-line reason. */
export class TrustError extends Error {}

interface LoadedRoot { role: RootRole; keyId: string; key: CryptoKey }
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Where the state lives: a file beside the flash image on node (./store-node.ts), anything in a browser. */
export interface PlutonStore { load(): Promise<PlutonState | null>; save(state: PlutonState): Promise<void> }

export class PlutonProcessor {
  private outstanding = new Set<number>();
  private contexts = new Map<number, Uint8Array[]>();
  private contextBytes = new Map<number, number>();
  private nextContext = 1;
  private roots: LoadedRoot[] = [];
  /** SHA-256 of the OS image the boot loader verified to boot since power-on (latched once), or null. */
  private bootMeasurement: Uint8Array | null = null;
  /** From power-on until the boot measurement is latched or a core holds the processor (`endBoot`). */
  private bootStage = true;
  /** The tail of the state's queue: see `serial`. */
  private stateChain: Promise<unknown> = Promise.resolve();

  private constructor(
    private state: PlutonState, private store: PlutonStore, private key: CryptoKey,
    private publicRaw: Uint8Array, private deviceId: Uint8Array, private deliver: (frame: Uint8Array) => void,
  ) {}

  private async loadRoots(): Promise<void> {
    const roots: LoadedRoot[] = [];
    for (const r of this.state.trustedRoots ?? []) {
      if (typeof r !== "object" || (r.role !== "os" && r.role !== "app") || typeof r.spki !== "string") throw new TrustError("security processor store: a trusted root is not {role: os|app, spki}");
      const spki = new Uint8Array(Buffer.from(r.spki, "base64"));
      const key = await subtle.importKey("spki", buf(spki), EC, false, ["verify"]).catch(() => { throw new TrustError("security processor store: a trusted root is not a P-256 public key"); });
      roots.push({ role: r.role, keyId: hex(new Uint8Array(await subtle.digest("SHA-256", buf(spki))).slice(0, 16)), key });
    }
    this.roots = roots;
  }

  /**
   * Runs `fn` after every state read or change asked for before it. Counter reads and advances and
   * the management calls each await the store, so without the queue two advances in flight at once
   * both copy the old state and the second save loses the first (a counter falls back), and a read
   * posted after an advance could answer the old value.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.stateChain.then(fn, fn);
    this.stateChain = run.catch(() => undefined);
    return run;
  }

  /** The device id (16 bytes) and public key (SEC1 uncompressed, 65 bytes). */
  identity(): { deviceId: Uint8Array; publicKey: Uint8Array } { return { deviceId: this.deviceId.slice(), publicKey: this.publicRaw.slice() }; }
  get mode(): "field" | "development" { return this.state.mode ?? "field"; }
  /** The trusted roots: role and key id (hex). */
  trustedRoots(): { role: RootRole; keyId: string }[] { return this.roots.map((r) => ({ role: r.role, keyId: r.keyId })); }

  /**
   * Provisioning (the factory's step, `device create --trust-*`): the roots replace any there were,
   * and the device goes to field mode. Refused for a key that is not P-256.
   */
  provision(roots: { role: RootRole; spkiDer: Uint8Array }[]): Promise<void> { return this.serial(() => this.provisionNow(roots)); }
  private async provisionNow(roots: { role: RootRole; spkiDer: Uint8Array }[]): Promise<void> {
    const next: PlutonState = { ...this.state, trustedRoots: roots.map((r) => ({ role: r.role, spki: Buffer.from(r.spkiDer).toString("base64") })), mode: "field" };
    delete next.capability;
    const before = this.state;
    this.state = next;
    try { await this.loadRoots(); } catch (err) { this.state = before; await this.loadRoots(); throw err; }
    await this.store.save(next);
  }

  /** Development mode from a device capability (SPEC.md, "Device capability"): for this device, signed by a trusted root. */
  applyCapability(bytes: Uint8Array): Promise<{ signerKeyId: string; role: RootRole }> { return this.serial(() => this.applyCapabilityNow(bytes)); }
  private async applyCapabilityNow(bytes: Uint8Array): Promise<{ signerKeyId: string; role: RootRole }> {
    let cap;
    try { cap = decodeCapability(bytes); } catch (err) { throw new TrustError((err as CapabilityError).message); }
    if (hex(cap.deviceId) !== hex(this.deviceId)) throw new TrustError(`the capability is for device ${hex(cap.deviceId)}, not this one (${hex(this.deviceId)})`);
    const root = this.roots.find((r) => r.keyId === hex(cap.keyId));
    if (!root) throw new TrustError(`the capability is signed by key ${hex(cap.keyId)}, which this device does not trust`);
    const ok = await subtle.verify(SIGN, root.key, buf(cap.signature), buf(bytes.subarray(0, CAPABILITY_SIGNED_BYTES)));
    if (!ok) throw new TrustError(`the capability's signature does not verify with key ${root.keyId} (the file was altered)`);
    const next: PlutonState = { ...this.state, mode: "development", capability: Buffer.from(bytes).toString("base64") };
    await this.store.save(next);
    this.state = next;
    return { signerKeyId: root.keyId, role: root.role };
  }

  /** Back to field mode; the capability is dropped. */
  clearCapability(): Promise<void> {
    return this.serial(async () => {
      const next: PlutonState = { ...this.state, mode: "field" };
      delete next.capability;
      await this.store.save(next);
      this.state = next;
    });
  }

  /**
   * The host's hand-over (the main processor leaves reset: a core runs from now on): the boot
   * stage ends, and no VERIFY_TRUSTED latches a boot measurement until the next power-on (a new
   * processor). Role-3 requests are refused with BOOT_ENDED from here.
   */
  endBoot(): void { this.bootStage = false; }

  /** Loads the store, making the device key on first use; `deliver` receives every response. */
  static async open(store: PlutonStore, deliver: (frame: Uint8Array) => void): Promise<PlutonProcessor> {
    let state = await store.load();
    if (!state) {
      const pair = await subtle.generateKey(EC, true, ["sign", "verify"]);
      const pkcs8 = new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey));
      state = { format: 1, devicePkcs8: Buffer.from(pkcs8).toString("base64"), counters: Array(COUNTER_COUNT).fill("0"), trustedRoots: [] };
      await store.save(state);
    }
    const pkcs8 = new Uint8Array(Buffer.from(state.devicePkcs8, "base64"));
    const jwk = await subtle.exportKey("jwk", await subtle.importKey("pkcs8", buf(pkcs8), EC, true, ["sign"]));
    const key = await subtle.importKey("pkcs8", buf(pkcs8), EC, false, ["sign"]);
    const pub = await subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, EC, true, ["verify"]);
    const publicRaw = new Uint8Array(await subtle.exportKey("raw", pub));
    const spki = new Uint8Array(await subtle.exportKey("spki", pub));
    const deviceId = new Uint8Array(await subtle.digest("SHA-256", buf(spki))).slice(0, 16);
    const me = new PlutonProcessor(state, store, key, publicRaw, deviceId, deliver);
    await me.loadRoots();
    return me;
  }

  /** Takes one request frame; its response arrives later through deliver. Never throws. */
  post(frame: Uint8Array): void {
    const d = decodeRequest(frame);
    if (!d.ok) return this.answerLater(d.requestId, d.status);
    const { command, requestId, payload } = d.value;
    if (this.outstanding.has(requestId)) return this.answerLater(requestId, STATUS.DUPLICATE_ID);
    if (this.outstanding.size >= MAX_OUTSTANDING) return this.answerLater(requestId, STATUS.BUSY);
    this.outstanding.add(requestId);
    this.run(command, payload).then(
      (r) => this.finish(requestId, r.status, r.payload),
      () => this.finish(requestId, STATUS.BAD_PAYLOAD, undefined),
    );
  }

  private answerLater(requestId: number, status: number): void {
    queueMicrotask(() => this.deliver(encodeResponse(requestId, status)));
  }

  private finish(requestId: number, status: number, payload: Uint8Array | undefined): void {
    this.outstanding.delete(requestId);
    this.deliver(encodeResponse(requestId, status, payload));
  }

  /** Frees context `id`, giving back its bytes in one piece. */
  private takeContext(id: number, parts: Uint8Array[]): Uint8Array {
    this.contexts.delete(id);
    const all = new Uint8Array(this.contextBytes.get(id)!);
    this.contextBytes.delete(id);
    let at = 0;
    for (const part of parts) { all.set(part, at); at += part.length; }
    return all;
  }

  private async run(command: number, p: Uint8Array): Promise<{ status: number; payload?: Uint8Array }> {
    const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const ok = (payload?: Uint8Array) => ({ status: STATUS.OK, payload });
    const bad = (status: number = STATUS.BAD_PAYLOAD) => ({ status });
    switch (command) {
      case CMD.RANDOM: {
        if (p.length !== 4) return bad();
        const n = dv.getUint32(0, true);
        if (n < 1 || n > RANDOM_MAX_BYTES) return bad();
        return ok(globalThis.crypto.getRandomValues(new Uint8Array(n)));
      }
      case CMD.SHA256_INIT: {
        if (p.length !== 0) return bad();
        if (this.contexts.size >= SHA256_MAX_CONTEXTS) return bad(STATUS.NO_CONTEXT);
        const id = this.nextContext++;
        this.contexts.set(id, []);
        this.contextBytes.set(id, 0);
        const out = new Uint8Array(4);
        new DataView(out.buffer).setUint32(0, id, true);
        return ok(out);
      }
      case CMD.SHA256_UPDATE: {
        if (p.length < 4) return bad();
        const id = dv.getUint32(0, true), parts = this.contexts.get(id);
        if (!parts) return bad(STATUS.NO_CONTEXT);
        const total = this.contextBytes.get(id)! + p.length - 4;
        if (total > SHA256_CONTEXT_MAX_BYTES) return bad(STATUS.OVERSIZED);
        parts.push(p.slice(4));
        this.contextBytes.set(id, total);
        return ok();
      }
      case CMD.SHA256_FINAL: {
        if (p.length !== 4) return bad();
        const id = dv.getUint32(0, true), parts = this.contexts.get(id);
        if (!parts) return bad(STATUS.NO_CONTEXT);
        return ok(new Uint8Array(await subtle.digest("SHA-256", buf(this.takeContext(id, parts)))));
      }
      case CMD.VERIFY_TRUSTED: {
        // u32 context, u16 role, u16 reserved, u8[16] key id, u8[64] signature: the context's bytes
        // are the message; the context is freed whatever the verdict (BOOT_ENDED included).
        if (p.length !== VERIFY_TRUSTED_REQUEST_BYTES) return bad();
        const id = dv.getUint32(0, true), role = dv.getUint16(4, true), parts = this.contexts.get(id);
        if (role !== ROLE.OS && role !== ROLE.APP && role !== ROLE.BOOT || dv.getUint16(6, true) !== 0) return bad();
        if (!parts) return bad(STATUS.NO_CONTEXT);
        const all = this.takeContext(id, parts);
        // The stage is checked after the context is taken, so a refused boot check leaves none open.
        if (role === ROLE.BOOT && !this.bootStage) return bad(STATUS.BOOT_ENDED);
        const digest = new Uint8Array(await subtle.digest("SHA-256", buf(all)));
        const keyId = hex(p.subarray(8, 24));
        const root = this.roots.find((r) => r.keyId === keyId && r.role === (role === ROLE.APP ? "app" : "os"));
        const verdict = !root ? VERDICT.UNTRUSTED_KEY
          : await subtle.verify(SIGN, root.key, buf(p.subarray(24, 88)), buf(all)) ? VERDICT.VERIFIED : VERDICT.BAD_SIGNATURE;
        // Re-checked after the awaits: a hand-over while this check ran ends the stage all the same.
        if (verdict === VERDICT.VERIFIED && role === ROLE.BOOT && this.bootStage) { this.bootMeasurement = digest; this.bootStage = false; }
        const out = new Uint8Array(40);
        out.set(digest);
        const odv = new DataView(out.buffer);
        odv.setUint32(32, verdict, true);
        odv.setUint32(36, this.mode === "development" ? MODE.DEVELOPMENT : MODE.FIELD, true);
        return ok(out);
      }
      case CMD.ECDSA_VERIFY: {
        if (p.length < 65 + 64) return bad();
        let key: CryptoKey;
        try { key = await subtle.importKey("raw", buf(p.subarray(0, 65)), EC, false, ["verify"]); } catch { return bad(); }
        const verified = await subtle.verify(SIGN, key, buf(p.subarray(65, 129)), buf(p.subarray(129)));
        return ok(Uint8Array.of(verified ? 1 : 0));
      }
      case CMD.SIGN:
        return ok(new Uint8Array(await subtle.sign(SIGN, this.key, buf(p))));
      case CMD.DEVICE_ID: {
        if (p.length !== 0) return bad();
        const out = new Uint8Array(16 + 65);
        out.set(this.deviceId);
        out.set(this.publicRaw, 16);
        return ok(out);
      }
      case CMD.ATTEST: {
        // The boot measurement (zeros when no verified OS image booted) is the first measurement:
        // the processor vouches for it itself; the rest are the caller's.
        const m = p.length - ATTEST_NONCE_BYTES;
        if (m < 0 || m % 32 !== 0 || m / 32 > ATTEST_MAX_MEASUREMENTS) return bad();
        const statement = new Uint8Array(8 + 16 + p.length + 32);
        const sdv = new DataView(statement.buffer);
        sdv.setUint32(0, ATTEST_MAGIC, true);
        sdv.setUint16(4, 1, true);
        sdv.setUint16(6, m / 32 + 1, true);
        statement.set(this.deviceId, 8);
        statement.set(p.subarray(0, ATTEST_NONCE_BYTES), 24);
        if (this.bootMeasurement) statement.set(this.bootMeasurement, 24 + ATTEST_NONCE_BYTES);
        statement.set(p.subarray(ATTEST_NONCE_BYTES), 24 + ATTEST_NONCE_BYTES + 32);
        const sig = new Uint8Array(await subtle.sign(SIGN, this.key, buf(statement)));
        const out = new Uint8Array(statement.length + 64);
        out.set(statement);
        out.set(sig, statement.length);
        return ok(out);
      }
      case CMD.COUNTER_READ:
      case CMD.COUNTER_ADVANCE:
        return this.serial(() => this.counter(command, p, dv));
      default:
        return bad(STATUS.UNKNOWN_COMMAND);
    }
  }

  /** COUNTER_READ and COUNTER_ADVANCE, one at a time in the order they were posted (`serial`). */
  private async counter(command: number, p: Uint8Array, dv: DataView): Promise<{ status: number; payload?: Uint8Array }> {
    if (p.length !== (command === CMD.COUNTER_READ ? 4 : 12)) return { status: STATUS.BAD_PAYLOAD };
    const index = dv.getUint32(0, true);
    if (index >= COUNTER_COUNT) return { status: STATUS.NO_COUNTER };
    let value = BigInt(this.state.counters[index]);
    if (command === CMD.COUNTER_ADVANCE) {
      const wanted = dv.getBigUint64(4, true);
      if (wanted < value) return { status: STATUS.COUNTER_BACKWARDS };
      if (wanted > value) {
        const counters = [...this.state.counters];
        counters[index] = wanted.toString();
        await this.store.save({ ...this.state, counters });
        this.state = { ...this.state, counters };
        value = wanted;
      }
    }
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, value, true);
    return { status: STATUS.OK, payload: out };
  }
}

export { MAILBOX_MAX_PAYLOAD_BYTES };
