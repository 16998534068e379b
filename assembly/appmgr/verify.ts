// appmgr/verify: the core's signature check of an image package, and its attestation request,
// through the security processor (SPEC.md, "Security processor mailbox", "Secure boot").
//
// What it is: two requests the core makes for itself, beside the apps' (drivers/crypto.ts shares
// its request ids and its frame buffer with this file). A check streams the package's signed bytes
// from flash into a hash context of the processor (SHA256_INIT, SHA256_UPDATE of up to 4,092 bytes
// each), then asks VERIFY_TRUSTED with the package's key id and signature against the roots the
// processor trusts for apps; the processor answers the digest (the package's measurement), its
// verdict, and the device's mode. The processor holds the roots: the core never sees a key, so a
// package can only be admitted by what the device's owner provisioned.
// The store (appmgr/store.ts) asks through verifyGate: the first call starts the check and every
// call returns -EINPROGRESS until its answer is in; the next call for the same extent returns the
// verdict once (0 verified, or -errno with the reason in the message) and forgets it.
// Invariants: at most one check and one attestation are outstanding; their request ids are never
// an app slot's (crypto.ts skips them); a hash context the check opened is always closed (by
// VERIFY_TRUSTED, or by SHA256_FINAL after a failure); a verdict is kept only for the extent
// (target, first block, bytes) it was made for, and the store refuses deploy writes while a check
// runs, so the bytes checked are the bytes admitted.
// Budget: VERIFY_STATIC_BYTES static (the key id, signature, digest, saved message, attestation
// answer); no heap. Must not: allocate, trust an answer's length, or admit on anything but
// VERDICT_VERIFIED.
import {
  EINVAL, EIO, EAGAIN, EBUSY, EPERM, EINPROGRESS, MAILBOX_HEADER_BYTES, MAILBOX_CMD_SHA256_INIT, MAILBOX_CMD_SHA256_UPDATE,
  MAILBOX_CMD_SHA256_FINAL, MAILBOX_CMD_VERIFY_TRUSTED, MAILBOX_CMD_ATTEST, MAILBOX_STATUS_OK, MAILBOX_STATUS_NO_CONTEXT,
  MAILBOX_ROLE_APP, MAILBOX_VERDICT_VERIFIED, MAILBOX_VERDICT_UNTRUSTED_KEY, MAILBOX_MODE_DEVELOPMENT, SHA256_MAX_BYTES,
  SHA256_DIGEST_BYTES, ATTEST_NONCE_BYTES, ATTEST_MAX_BYTES, MAX_APPS, PKG_SIG_NONE, IMAGE_REFUSED_UNSIGNED,
  IMAGE_REFUSED_UNTRUSTED_KEY, IMAGE_REFUSED_BAD_SIGNATURE, IMAGE_REFUSED_NO_PROCESSOR,
} from "../abi";
import { postCoreRequest, mailboxFrame, verifyTrustedPayload } from "../drivers/crypto";
import { flashReadBytes } from "../flash/read";
import { msgClear, msgStr, msgInt, msgPtr, msgLen, msgBytes } from "../util/msg";
import { PKG_INFO_SIG_ALGORITHM, PKG_INFO_SIG_KEY_ID, PKG_INFO_SIGNATURE, PKG_INFO_SIGNED_BYTES } from "./imagepkg";

const V_IDLE: i32 = 0;
const V_RUNNING: i32 = 1;
const V_DONE: i32 = 2;
const SAVED_MSG_BYTES: i32 = 256;

const keyId = memory.data(16, 4);
const signature = memory.data(64, 4);
const digest = memory.data(SHA256_DIGEST_BYTES, 4);
const savedMsg = memory.data(SAVED_MSG_BYTES, 4);
const attestNonce = memory.data(ATTEST_NONCE_BYTES, 4);
const attestBuf = memory.data(ATTEST_MAX_BYTES, 4);
export const VERIFY_STATIC_BYTES: i32 = 16 + 64 + SHA256_DIGEST_BYTES + SAVED_MSG_BYTES + ATTEST_NONCE_BYTES + ATTEST_MAX_BYTES;

// The check: what it is for, where it is, what is outstanding.
let vState: i32 = V_IDLE;
let vTarget: i32 = 0;
let vFirst: u32 = 0;
let vBytes: u32 = 0;
let vBase: u64 = 0;
let vBlockBytes: u32 = 4096;
let vSigned: u32 = 0;
let vAt: u32 = 0;
let vUnsigned: bool = false;
let vId: i32 = 0;
let vCmd: i32 = 0;
let vContext: u32 = 0;
// The verdict: 0 or -errno, its IMAGE_REFUSED_* reason (0: none), the mode the processor reported.
let vResult: i32 = 0;
let vReason: i32 = 0;
let vMode: i32 = 0;
let vSavedLen: i32 = 0;
// The attestation: its request id, state, the answer's length or -errno.
let aId: i32 = 0;
let aState: i32 = V_IDLE;
let aResult: i32 = 0;
let aExpected: i32 = 0;

export function verifyOwnsId(id: i32): bool { return id != 0 && (id == vId || id == aId); }

/** Posts `command` with `payloadBytes` at the frame's payload; its request id, or -errno. */
function post(command: i32, payloadBytes: i32): i32 { return postCoreRequest(command, payloadBytes); }

function payload(): usize { return mailboxFrame() + <usize>MAILBOX_HEADER_BYTES; }

const HEX_DIGITS = memory.data<u8>([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);
/** `n` bytes at `p` as lowercase hex into the message (no allocation). */
function msgHex(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const v = load<u8>(p + <usize>i);
    msgBytes(HEX_DIGITS + <usize>(v >> 4), 1);
    msgBytes(HEX_DIGITS + <usize>(v & 15), 1);
  }
}

/** Ends the check with `rc` (`reason`): the message it leaves is saved for the call that takes the verdict. */
function done(rc: i32, reason: i32): void {
  vState = V_DONE;
  vId = 0;
  vResult = rc;
  vReason = reason;
  vSavedLen = msgLen() < SAVED_MSG_BYTES ? msgLen() : SAVED_MSG_BYTES;
  memory.copy(savedMsg, msgPtr(), <usize>vSavedLen);
}

/** Ends the check with `rc` (message in place), after closing its hash context with SHA256_FINAL. */
function closeThenFail(rc: i32): void {
  done(rc, 0);
  vState = V_RUNNING;
  store<u32>(payload(), vContext);
  vCmd = MAILBOX_CMD_SHA256_FINAL;
  const id = post(MAILBOX_CMD_SHA256_FINAL, 4);
  if (id < 0) vState = V_DONE; else vId = id;
}

/** The message of a check the processor could not answer: its status, or -1 for an answer of the wrong length. */
function ioMessage(status: i32): void {
  msgClear();
  if (status < 0) { msgStr("image package: cannot be verified: the security processor's answer is malformed"); return; }
  msgStr("image package: cannot be verified: the security processor answered status "); msgInt(status);
}

function failIo(status: i32): void {
  msgClear();
  if (status == MAILBOX_STATUS_NO_CONTEXT) {
    msgStr("image package: cannot be verified now: the security processor has no free hash context; try again");
    done(-EAGAIN, 0);
    return;
  }
  ioMessage(status);
  done(-EIO, 0);
}

/** Posts the next SHA256_UPDATE (the next signed bytes from flash), or VERIFY_TRUSTED after the last. */
function step(): void {
  const p = payload();
  store<u32>(p, vContext);
  if (vAt < vSigned) {
    let n = vSigned - vAt;
    if (n > <u32>SHA256_MAX_BYTES) n = <u32>SHA256_MAX_BYTES;
    if (flashReadBytes(vBlockBytes, vBase + <u64>vAt, p + 4, n) != 0) {
      msgClear(); msgStr("image package: cannot be verified: the flash refused a read");
      closeThenFail(-EIO);
      return;
    }
    vCmd = MAILBOX_CMD_SHA256_UPDATE;
    const id = post(MAILBOX_CMD_SHA256_UPDATE, 4 + <i32>n);
    if (id < 0) { msgClear(); msgStr("image package: cannot be verified: the mailbox refused a request"); closeThenFail(-EIO); return; }
    vId = id;
    vAt += n;
    return;
  }
  vCmd = MAILBOX_CMD_VERIFY_TRUSTED;
  const id = post(MAILBOX_CMD_VERIFY_TRUSTED, verifyTrustedPayload(p, MAILBOX_ROLE_APP, keyId, signature));
  if (id < 0) { msgClear(); msgStr("image package: cannot be verified: the mailbox refused a request"); closeThenFail(-EIO); return; }
  vId = id;
}

/** The verdict of VERIFY_TRUSTED (payload: digest, verdict, mode). */
function judge(p: usize): void {
  memory.copy(digest, p, SHA256_DIGEST_BYTES);
  const verdict = <i32>load<u32>(p, 32);
  vMode = <i32>load<u32>(p, 36);
  msgClear();
  if (vUnsigned) {
    msgStr("image package: unsigned: every package must be signed by a key this device trusts for apps (image-package pack-application --sign KEY.pem)");
    done(-EPERM, IMAGE_REFUSED_UNSIGNED);
  } else if (verdict == MAILBOX_VERDICT_VERIFIED) {
    done(0, 0);
  } else if (verdict == MAILBOX_VERDICT_UNTRUSTED_KEY) {
    msgStr("image package: signed by key "); msgHex(keyId, 16); msgStr(", which this device does not trust for apps");
    done(-EPERM, IMAGE_REFUSED_UNTRUSTED_KEY);
  } else {
    msgStr("image package: its signature does not verify with trusted key "); msgHex(keyId, 16); msgStr(" (the package was altered after it was signed)");
    done(-EPERM, IMAGE_REFUSED_BAD_SIGNATURE);
  }
}

/**
 * The check of the package of `bytes` at flash block `first` (`target`: its list entry, -1 a
 * deploy), whose pkg-info record is at `info`: 0 verified, -EINPROGRESS (started, or not answered
 * yet: call again after the mailbox answers), -EBUSY (another package is being checked), or the
 * refusal's -errno with its reason in the message (verifyReason()).
 */
export function verifyGate(target: i32, blockBytes: u32, first: u32, bytes: u32, info: usize): i32 {
  const same = vTarget == target && vFirst == first && vBytes == bytes;
  if (vState == V_RUNNING) {
    msgClear();
    if (!same) { msgStr("image package: another package is being verified; try again"); return -EBUSY; }
    msgStr("image package: being verified by the security processor");
    return -EINPROGRESS;
  }
  if (vState == V_DONE && same) {
    vState = V_IDLE;
    msgClear(); msgBytes(savedMsg, vSavedLen);
    return vResult;
  }
  vTarget = target; vFirst = first; vBytes = bytes;
  vBlockBytes = blockBytes;
  vBase = <u64>first * <u64>blockBytes;
  vSigned = load<u32>(info + PKG_INFO_SIGNED_BYTES);
  vUnsigned = load<u32>(info + PKG_INFO_SIG_ALGORITHM) == <u32>PKG_SIG_NONE;
  memory.copy(keyId, info + PKG_INFO_SIG_KEY_ID, 16);
  memory.copy(signature, info + PKG_INFO_SIGNATURE, 64);
  vAt = 0; vResult = 0; vReason = 0; vMode = 0;
  vCmd = MAILBOX_CMD_SHA256_INIT;
  const id = post(MAILBOX_CMD_SHA256_INIT, 0);
  if (id < 0) {
    msgClear(); msgStr("image package: cannot be verified: this device has no security processor");
    vState = V_IDLE;
    vReason = IMAGE_REFUSED_NO_PROCESSOR;
    return -EPERM;
  }
  vId = id;
  vState = V_RUNNING;
  msgClear(); msgStr("image package: being verified by the security processor");
  return -EINPROGRESS;
}

/** Whether a check of this extent is running or has its verdict waiting (verifyGate then needs no pkg-info). */
export function verifyHolds(target: i32, first: u32, bytes: u32): bool {
  return vState != V_IDLE && vTarget == target && vFirst == first && vBytes == bytes;
}

/** The IMAGE_REFUSED_* reason of the verdict verifyGate last returned (0: none). */
export function verifyReason(): i32 { return vReason; }
/** Whether the processor reported development mode with that verdict. */
export function verifyDevelopment(): bool { return vMode == MAILBOX_MODE_DEVELOPMENT; }
/** The digest (measurement) of the signed bytes of the package verifyGate last verified. */
export function verifyDigest(): usize { return digest; }
export function verifyRunning(): bool { return vState == V_RUNNING; }

/** Where the caller of attestGate puts its measurements: ATTEST's payload, after the nonce (the request frame is only a build buffer). */
export function attestMeasurementsPtr(): usize { return payload() + <usize>ATTEST_NONCE_BYTES; }

/**
 * An attestation over the 32-byte nonce at `nonce` and the `count` measurements of 32 bytes at
 * attestMeasurementsPtr(): -EINPROGRESS until the answer is in; then the call with the same nonce
 * returns its length (the statement and signature at attestPtr()) or -errno, once.
 */
export function attestGate(nonce: usize, count: i32): i32 {
  if (count < 0 || count > MAX_APPS) return -EINVAL;
  if (aState == V_RUNNING) return -EINPROGRESS;
  if (aState == V_DONE && memory.compare(attestNonce, nonce, ATTEST_NONCE_BYTES) == 0) {
    aState = V_IDLE;
    if (aResult < 0) { msgClear(); msgStr("attestation: the security processor refused it"); }
    return aResult;
  }
  memory.copy(attestNonce, nonce, ATTEST_NONCE_BYTES);
  memory.copy(payload(), nonce, ATTEST_NONCE_BYTES);
  aExpected = 24 + ATTEST_NONCE_BYTES + (count + 1) * 32 + 64;
  const id = post(MAILBOX_CMD_ATTEST, ATTEST_NONCE_BYTES + count * 32);
  if (id < 0) { aState = V_IDLE; msgClear(); msgStr("attestation: this device has no security processor"); return -EPERM; }
  aId = id;
  aState = V_RUNNING;
  return -EINPROGRESS;
}
export function attestPtr(): usize { return attestBuf; }

/** An answer to one of this file's requests (crypto.ts routes it here). 0, or -EMSGSIZE-like refusals count as failures. */
export function verifyDeliver(id: i32, status: i32, p: usize, len: i32): i32 {
  if (id == aId) {
    aId = 0;
    aState = V_DONE;
    if (status != MAILBOX_STATUS_OK || len != aExpected || len > ATTEST_MAX_BYTES) { aResult = -EIO; return 0; }
    memory.copy(attestBuf, p, <usize>len);
    aResult = len;
    return 0;
  }
  vId = 0;
  const ok = status == MAILBOX_STATUS_OK;
  if (vCmd == MAILBOX_CMD_SHA256_FINAL) {
    // The context is closed after a failure whose verdict and message are already saved.
    vState = V_DONE;
    return 0;
  }
  if (vCmd == MAILBOX_CMD_SHA256_INIT) {
    if (!ok || len != 4) { failIo(ok ? -1 : status); return 0; }
    vContext = load<u32>(p);
    step();
    return 0;
  }
  if (vCmd == MAILBOX_CMD_SHA256_UPDATE) {
    if (!ok || len != 0) {
      ioMessage(ok ? -1 : status);
      closeThenFail(-EIO);
      return 0;
    }
    step();
    return 0;
  }
  if (!ok || len != 40) { failIo(ok ? -1 : status); return 0; }
  judge(p);
  return 0;
}
