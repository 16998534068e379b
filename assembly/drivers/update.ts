// drivers/update: the core's update unit (driver unit 16; ABI.md "Updates"; SPEC.md "Update
// feed", "Update agent"): the calls the update agent, a system app holding UpdateAgent, makes to
// have a feed verified and an app's new image package staged and committed.
//
// What it is: the policy half of over-the-air updates; the agent only moves bytes. The core
// decides every question of trust itself, through the security processor:
// - update_feed_verify streams the feed manifest's exact text from the agent's memory into a hash
//   context (SHA256_INIT, SHA256_UPDATE of up to 4,092 bytes), asks VERIFY_TRUSTED with role 2
//   (the roots the device trusts for apps: a feed publisher signs with an app-signing key), and
//   while the bytes pass it scans them itself for the manifest's top-level "Sequence" (the
//   agent's copy is never asked). It then reads security-processor counter 1 (the highest
//   Sequence accepted), refuses a lower Sequence (a replayed feed) and advances the counter to a
//   higher one (COUNTER_ADVANCE) before it answers.
// - update_stage_begin / _write / _commit stream a package into a deploy extent of the apps
//   partition (appmgr/store.ts owns the layout and erases each block as the bytes reach it); the
//   commit reads the extent back from flash into a hash context, compares the SHA-256 with the
//   one the begin declared (the feed entry's), then has the store check and commit it as a deploy
//   (storeUpdateCommit: the ComponentId the entry named, installed, version not below the
//   installed one, signed by a trusted key; field mode does not refuse it). The host learns of an
//   applied update from EV_UPDATE_APPLIED and starts the new app.
// A call that asks the processor blocks its task (WAIT_MAILBOX, object UPDATE_WAIT_OBJECT) until
// the chain's last answer; the answers come through mailbox-deliver (crypto.ts routes this
// unit's request ids here). Every refusal leaves its one-line reason for update_last_error and
// an EV_UPDATE_REFUSED audit entry with its UPDATE_REFUSED_* reason.
// Invariants: at most one chain (feed verify or commit) is outstanding, and at most one update is
// staged (LIMIT_UPDATE_SESSIONS); a hash context this unit opened is always closed (by
// VERIFY_TRUSTED or SHA256_FINAL), even when the calling task ended meanwhile; the Sequence
// checked is the one in the bytes the processor hashed; a task is woken only while it still waits
// on this unit; nothing is committed but bytes whose SHA-256 the processor computed from flash.
// Budget: UPDATE_STATIC_BYTES static (the descriptor, key id, signature, saved message); the
// request frame is crypto.ts's; no heap.
// Must not: allocate, trust the agent's lengths or copies of what it verified, or write into an
// app that no longer waits for it.
import {
  SYS_UPDATE_FEED_VERIFY, SYS_UPDATE_STAGE_BEGIN, SYS_UPDATE_STAGE_WRITE, SYS_UPDATE_STAGE_COMMIT, SYS_UPDATE_INSTALLED_VERSION,
  SYS_UPDATE_LAST_ERROR, SYSCALL_SUSPEND, SYSCALL_FUEL, COPY_BYTE_FUEL, MAILBOX_CALL_FUEL, MAILBOX_HEADER_BYTES,
  MAILBOX_CMD_SHA256_INIT, MAILBOX_CMD_SHA256_UPDATE, MAILBOX_CMD_SHA256_FINAL, MAILBOX_CMD_VERIFY_TRUSTED, MAILBOX_CMD_COUNTER_READ,
  MAILBOX_CMD_COUNTER_ADVANCE, MAILBOX_STATUS_OK, MAILBOX_ROLE_APP, MAILBOX_VERDICT_VERIFIED, MAILBOX_VERDICT_UNTRUSTED_KEY,
  SHA256_MAX_BYTES, SHA256_DIGEST_BYTES, TASK_BLOCKED, EINVAL, EBADF, EIO, EBUSY, EFBIG, ENODATA, EPERM, ENOSYS, EINPROGRESS,
  EUNTRUSTED, EROLLBACK, EINTEGRITY, PKG_MAX_BYTES, UPDATE_KIND_APP, UPDATE_KIND_CORE, UPDATE_DESC_BYTES, FEED_MAX_BYTES,
  FEED_SEQUENCE_COUNTER, UPDATE_WRITE_MAX_BYTES, UPDATE_ERROR_MAX_BYTES, EV_UPDATE_APPLIED, EV_UPDATE_REFUSED, EV_FEED_ACCEPTED,
  LIMIT_UPDATE_SESSIONS, UPDATE_REFUSED_FEED_UNTRUSTED_KEY, UPDATE_REFUSED_FEED_BAD_SIGNATURE, UPDATE_REFUSED_FEED_MALFORMED,
  UPDATE_REFUSED_FEED_REPLAYED, UPDATE_REFUSED_TOO_BIG, UPDATE_REFUSED_TRUNCATED, UPDATE_REFUSED_HASH, UPDATE_REFUSED_OVERSIZE,
  UPDATE_REFUSED_NO_FEED, UPDATE_REFUSED_CORE_UNTRUSTED_KEY, UPDATE_REFUSED_CORE_BAD_SIGNATURE, UPDATE_REFUSED_CORE_OLDER,
  UPDATE_REFUSED_CORE_MALFORMED, UPDATE_REFUSED_CORE_ON_TRIAL, MAILBOX_ROLE_OS, CORE_IMAGE_MAGIC, CORE_IMAGE_HEADER_BYTES, CORE_IMAGE_FORMAT,
  EAGAIN, SYSEVENT_UPDATE_APP, SYSEVENT_UPDATE_OS, SYSEVENT_STATUS_PENDING, SYSEVENT_STATUS_DEFERRED,
  OS_VERSION_COUNTER, BOOT_STATE_MAGIC, BOOT_STATE_RECORD_BYTES, BOOT_STATE_PENDING, BOOT_STATE_TRYING, BOOT_STATE_CONFIRMED,
  EV_REBOOT_REQUESTED, REBOOT_REASON_OS_UPDATE, PTABLE_MAX_ENTRIES, PART_OS_A, PART_OS_B, PART_FLAG_ACTIVE, ENODEV, ENOENT,
} from "../abi";
import { flash_erase, flash_prog } from "../hal/index";
import { syseventUpdateGate, syseventUpdateDone, syseventStatus } from "./sysevent";
import { schedNow } from "../sched/scheduler";
import { ptableParse } from "../flash/ptable";
import { crc32 } from "../fs/crc";
import { app_copy_in, app_copy_out } from "../hal/index";
import { CAP_UPDATE } from "../lsm/caps";
import { taskAt, taskValid, WAIT_MAILBOX } from "../task/table";
import { schedBlock, schedWake } from "../sched/scheduler";
import { handleAlloc, handleResolve, handleObject } from "../handles/table";
import { auditRecord } from "../audit/ring";
import { flashReadBytes } from "../flash/read";
import { msgClear, msgStr, msgInt, msgPtr, msgLen, msgBytes } from "../util/msg";
import { OP_OWNS, OP_NEEDS, OP_CALL, OP_FUEL, OP_OWNS_KIND, OP_CLOSE, OP_RESET, rangeRefused, refuseForLimit, refuseHandle } from "./unit";
import { postCoreRequest, mailboxFrame, verifyTrustedPayload } from "./crypto";
import { verifyRunning } from "../appmgr/verify";
import {
  storeDeployBegin, storeDeployWrite, storeUpdateCommit, storeUpdateReason, storeUpdateWritten, storePendingFirst,
  storeBlockBytes, storeBlockCount, storeUpdateDrop, storeInstalledVersion,
} from "../appmgr/store";

// The fs-readonly and no-fs cores cannot write flash: there every update call is -ENOSYS and
// nothing of the staging is compiled in (tests/host/core-imports.test pins their hal imports).
// @ts-ignore: FS_READONLY and FS_NONE are defined only by those builds
const UPDATES: bool = !isDefined(FS_READONLY) && !isDefined(FS_NONE);

/** Handle kind of a staged update (its object: 0, the one session). */
export const HANDLE_UPDATE: i32 = 13;
const KIND_UPDATE: i32 = 1 << HANDLE_UPDATE;
/** waitObject of a task blocked on this unit (crypto.ts's slots are 0..15). */
export const UPDATE_WAIT_OBJECT: i32 = -2;

// The chain outstanding: none, a feed check, a commit's read-back hash, a commit's package check.
const C_IDLE: i32 = 0;
const C_FEED: i32 = 1;
const C_HASH: i32 = 2;
const C_ADMIT: i32 = 3;
const C_CORE_HASH: i32 = 4; // a core image's read-back hash
const C_CORE_SIG: i32 = 5;  // its signed bytes (header [0, 16) and the payload: core and system apps) for VERIFY_TRUSTED role 1

const desc = memory.data(UPDATE_DESC_BYTES, 4);
const keyId = memory.data(16, 4);
const signature = memory.data(64, 4);
const lastError = memory.data(UPDATE_ERROR_MAX_BYTES, 4);
const parts = memory.data(PTABLE_MAX_ENTRIES * 12, 4);
const header = memory.data(CORE_IMAGE_HEADER_BYTES, 4);
const rec = memory.data(BOOT_STATE_RECORD_BYTES, 4);
// The OS slots (A's then B's first block and blocks), and each one's boot-state log as readLog leaves it.
const slots = memory.data(16, 4);
const logA = memory.data(16, 4);
const logB = memory.data(16, 4);
export const UPDATE_STATIC_BYTES: i32 = UPDATE_DESC_BYTES + 16 + 64 + UPDATE_ERROR_MAX_BYTES + PTABLE_MAX_ENTRIES * 12
  + CORE_IMAGE_HEADER_BYTES + BOOT_STATE_RECORD_BYTES + 48;

let chain: i32 = C_IDLE;
let cTask: i32 = -1;
let cApp: i32 = -1;
let cId: i32 = 0;
let cCmd: i32 = 0;
let cContext: u32 = 0;
let cPtr: i32 = 0;      // feed: the text in the agent's memory
let cLen: u32 = 0;      // feed: its bytes; commit: the package's
let cAt: u32 = 0;       // bytes hashed so far
let cResult: i32 = 0;   // the errno a failed chain ends with once its context is closed
let cReason: i32 = 0;
let cSequence: u64 = 0;
let lastErrorLen: i32 = 0;
// The staged update: its handle's task and app (none: -1), kind, declared bytes; a feed accepted by which app.
let sTask: i32 = -1;
let sApp: i32 = -1;
let sBytes: u32 = 0;
let sFailed: bool = false;
let feedApp: i32 = -1;
// A staged core image: its kind, the OS slot it goes to (first block, blocks), bytes programmed;
// the chain's flash base, the image's version and stored bytes once its header was read.
let sKind: i32 = 0;
let tFirst: u32 = 0;
let tBlocks: u32 = 0;
let sWritten: u32 = 0;
let cBase: u64 = 0;
let cVersion: u32 = 0;

// The Sequence scanner: a JSON tokenizer just deep enough to find the top-level "Sequence"
// number in bytes that arrive in pieces.
let jDepth: i32 = 0;
let jInString: bool = false;
let jEscape: bool = false;
let jExpectKey: bool = false;
let jKeyAt: i32 = 0;        // bytes of "Sequence" matched in the current depth-1 string; -1 none
let jKeyIsSeq: bool = false;
let jNumber: i32 = 0;       // 0 not in the number, 1 before its digits, 2 in its digits
let jSeen: i32 = 0;         // Sequence keys found
let jBad: bool = false;
let jValue: u64 = 0;
const SEQ_KEY = memory.data<u8>([83, 101, 113, 117, 101, 110, 99, 101]); // "Sequence"

export function updateOwnsId(id: i32): bool { return UPDATES && id != 0 && id == cId; }

function scanReset(): void {
  jDepth = 0; jInString = false; jEscape = false; jExpectKey = false; jKeyAt = -1; jKeyIsSeq = false;
  jNumber = 0; jSeen = 0; jBad = false; jValue = 0;
}

function scanByte(c: u32): void {
  if (jNumber != 0) {
    if (c >= 48 && c <= 57) {
      jNumber = 2;
      jValue = jValue * 10 + <u64>(c - 48);
      if (jValue > 9007199254740991) jBad = true;
      return;
    }
    if (jNumber == 1 && (c == 32 || c == 9 || c == 10 || c == 13)) return;
    // A sign, fraction or exponent, or no digits: not a whole Sequence.
    if (jNumber == 1 || c == 46 || c == 101 || c == 69 || c == 45 || c == 43) { jBad = true; jNumber = 0; return; }
    jNumber = 0;
  }
  if (jInString) {
    if (jEscape) { jEscape = false; jKeyAt = -1; return; }
    if (c == 92) { jEscape = true; jKeyAt = -1; return; }
    if (c == 34) {
      jInString = false;
      if (jDepth == 1 && jExpectKey) jKeyIsSeq = jKeyAt == 8;
      return;
    }
    if (jKeyAt >= 0) jKeyAt = jKeyAt < 8 && <u32>load<u8>(SEQ_KEY + <usize>jKeyAt) == c ? jKeyAt + 1 : -1;
    return;
  }
  if (c == 34) { jInString = true; jKeyAt = jDepth == 1 && jExpectKey ? 0 : -1; return; }
  if (c == 123 || c == 91) { jDepth++; jExpectKey = c == 123 && jDepth == 1; return; }
  if (c == 125 || c == 93) { jDepth--; if (jDepth < 0) jBad = true; return; }
  if (jDepth == 1) {
    if (c == 44) { jExpectKey = true; jKeyIsSeq = false; return; }
    if (c == 58) {
      jExpectKey = false;
      if (jKeyIsSeq) { jSeen++; jNumber = 1; jValue = 0; jKeyIsSeq = false; }
    }
  }
}

/** The message in place becomes the last refusal's (update_last_error). */
function keepMessage(): void {
  lastErrorLen = msgLen() < UPDATE_ERROR_MAX_BYTES ? msgLen() : UPDATE_ERROR_MAX_BYTES;
  memory.copy(lastError, msgPtr(), <usize>lastErrorLen);
}

/** Keeps the message in place as the last refusal's, records it, and returns `rc`. */
function refuse(rc: i32, reason: i32, entry: i32): i32 {
  keepMessage();
  auditRecord(EV_UPDATE_REFUSED, cTask >= 0 ? cTask : sTask, cApp >= 0 ? cApp : sApp, reason, entry, rc);
  return rc;
}
function refuseNow(task: i32, app: i32, rc: i32, reason: i32, what: string): i32 {
  msgClear(); msgStr(what);
  keepMessage();
  auditRecord(EV_UPDATE_REFUSED, task, app, reason, -1, rc);
  return rc;
}

function payload(): usize { return mailboxFrame() + <usize>MAILBOX_HEADER_BYTES; }

/** Posts `command` with `payloadBytes` at the frame's payload under a fresh id. 0 or -errno. */
function post(command: i32, payloadBytes: i32): i32 {
  const id = postCoreRequest(command, payloadBytes);
  if (id < 0) return id;
  cId = id;
  cCmd = command;
  return 0;
}

function waiting(): bool {
  if (!taskValid(cTask)) return false;
  const t = taskAt(cTask);
  return t.state == TASK_BLOCKED && t.waitKind == WAIT_MAILBOX && t.waitObject == UPDATE_WAIT_OBJECT;
}

/** Ends the chain with `result`, waking its task if it still waits. */
// Whether the commit chain in progress was let through by the system-event gate (Final told to
// the registered apps): its end, applied or refused, tells them Complete and frees the gate.
let gateHeld: bool = false;

function finish(result: i32): void {
  if (gateHeld) { gateHeld = false; syseventUpdateDone(); }
  const wake = waiting();
  const task = cTask;
  chain = C_IDLE; cId = 0; cTask = -1; cApp = -1;
  if (wake) schedWake(task, result);
}

/** Fails the chain with `rc` (`reason`, message in place) after closing its open context with SHA256_FINAL. */
function closeThenFail(rc: i32, reason: i32): void {
  refuse(rc, reason, -1);
  cResult = rc;
  store<u32>(payload(), cContext);
  if (post(MAILBOX_CMD_SHA256_FINAL, 4) < 0) finish(rc);
}

function ioFail(what: string): void { msgClear(); msgStr(what); closeThenFail(-EIO, 0); }

/** The next SHA256_UPDATE of the chain's bytes, or what follows the last. */
function step(): void {
  const p = payload();
  store<u32>(p, cContext);
  if (cAt < cLen) {
    let n = cLen - cAt;
    if (n > <u32>SHA256_MAX_BYTES) n = <u32>SHA256_MAX_BYTES;
    if (chain == C_FEED) {
      // The agent's bytes, read once: what is hashed is what is scanned.
      if (!waiting() || app_copy_in(cTask, cPtr + <i32>cAt, <i32>n, p + 4) < 0) { ioFail("update: feed: the agent's buffer cannot be read"); return; }
      for (let i: u32 = 0; i < n; i++) scanByte(<u32>load<u8>(p + 4 + <usize>i));
    } else {
      const block = storeBlockBytes();
      let from: u64;
      if (chain == C_CORE_SIG) {
        // The signed bytes: the header's first 16, then the payload (the core and the system apps) after the 96-byte header.
        if (cAt < 16) { if (n > 16 - cAt) n = 16 - cAt; from = cBase + <u64>cAt; }
        else from = cBase + <u64>(CORE_IMAGE_HEADER_BYTES - 16) + <u64>cAt;
      } else from = (chain == C_HASH ? <u64>storePendingFirst() * <u64>block : cBase) + <u64>cAt;
      if (flashReadBytes(block, from, p + 4, n) != 0) { ioFail("update: the staged image cannot be read back: the flash refused a read"); return; }
    }
    if (post(MAILBOX_CMD_SHA256_UPDATE, 4 + <i32>n) < 0) { ioFail("update: the mailbox refused a request"); return; }
    cAt += n;
    return;
  }
  if (chain == C_FEED) {
    if (jBad || jSeen != 1 || jDepth != 0 || jInString || jValue == 0) {
      msgClear();
      msgStr(jSeen == 0 ? "feed: refused: the manifest has no top-level Sequence" : jSeen > 1 ? "feed: refused: the manifest has more than one Sequence"
        : "feed: refused: the manifest is not well-formed JSON with a whole Sequence from 1");
      closeThenFail(-EINVAL, UPDATE_REFUSED_FEED_MALFORMED);
      return;
    }
    cSequence = jValue;
  }
  // A feed is checked against the app roots, a core image against the OS roots.
  if (chain == C_FEED || chain == C_CORE_SIG) {
    const role = chain == C_FEED ? MAILBOX_ROLE_APP : MAILBOX_ROLE_OS;
    if (post(MAILBOX_CMD_VERIFY_TRUSTED, verifyTrustedPayload(p, role, keyId, signature)) < 0) { ioFail("update: the mailbox refused a request"); return; }
    return;
  }
  if (post(MAILBOX_CMD_SHA256_FINAL, 4) < 0) { ioFail("update: the mailbox refused a request"); return; }
}

/** Posts a counter request for counter `index` (COUNTER_ADVANCE to cSequence when `advance`). */
function counter(advance: bool, index: i32 = FEED_SEQUENCE_COUNTER): void {
  const p = payload();
  store<u32>(p, <u32>index);
  if (advance) store<u64>(p, cSequence, 4);
  if (post(advance ? MAILBOX_CMD_COUNTER_ADVANCE : MAILBOX_CMD_COUNTER_READ, advance ? 12 : 4) < 0) {
    msgClear(); msgStr("update: the mailbox refused a request"); finish(refuse(-EIO, 0, -1));
  }
}

/** Runs the package check of a commit whose bytes matched: its end, or nothing while the processor checks. */
function admitStep(): void {
  const rc = storeUpdateCommit(desc);
  if (rc == -EINPROGRESS || rc == -EBUSY) return; // updatePoke calls again after the verifier's answer
  if (rc < 0) { finish(refuse(rc, storeUpdateReason(), -1)); return; }
  const version = storeInstalledVersion(desc);
  auditRecord(EV_UPDATE_APPLIED, cTask, cApp, SYS_UPDATE_STAGE_COMMIT, rc, version);
  finish(rc);
}

/** After every answer of appmgr/verify's check (crypto.ts calls it): a commit waiting on that check goes on. */
export function updatePoke(): void {
  if (!UPDATES) return;
  if (chain == C_ADMIT && !verifyRunning()) admitStep();
}

/** An answer to this unit's request `cId` (crypto.ts routes it here): 0 (nothing of it woke a crypto slot). */
export function updateDeliver(status: i32, p: usize, len: i32): i32 {
  if (!UPDATES) return -ENOENT;
  cId = 0;
  const ok = status == MAILBOX_STATUS_OK;
  if (cCmd == MAILBOX_CMD_SHA256_FINAL && cResult != 0) { finish(cResult); return 0; }
  if (cCmd == MAILBOX_CMD_SHA256_INIT) {
    if (!ok || len != 4) { msgClear(); msgStr("update: the security processor has no hash context for it now; try again"); finish(refuse(ok ? -EIO : -EBUSY, 0, -1)); return 0; }
    cContext = load<u32>(p);
    step();
    return 0;
  }
  if (cCmd == MAILBOX_CMD_SHA256_UPDATE) {
    if (!ok || len != 0) { ioFail("update: the security processor refused the bytes"); return 0; }
    step();
    return 0;
  }
  if (cCmd == MAILBOX_CMD_SHA256_FINAL) {
    // A commit's read-back digest against the one declared.
    if (!ok || len != SHA256_DIGEST_BYTES) { msgClear(); msgStr("update: the security processor could not hash the staged package"); finish(refuse(-EIO, 0, -1)); return 0; }
    if (chain == C_CORE_HASH) { coreHashed(p); return 0; }
    if (memory.compare(p, desc + 16, SHA256_DIGEST_BYTES) != 0) {
      storeUpdateDrop();
      msgClear(); msgStr("update: refused: the download's SHA-256 is not the one its feed entry names (altered in transit or at the server)");
      finish(refuse(-EINTEGRITY, UPDATE_REFUSED_HASH, -1));
      return 0;
    }
    chain = C_ADMIT;
    admitStep();
    return 0;
  }
  if (cCmd == MAILBOX_CMD_VERIFY_TRUSTED) {
    if (!ok || len != 40) { msgClear(); msgStr("update: feed: the security processor could not verify it"); finish(refuse(-EIO, 0, -1)); return 0; }
    const verdict = <i32>load<u32>(p, 32);
    if (chain == C_CORE_SIG) {
      msgClear();
      if (verdict == MAILBOX_VERDICT_VERIFIED) { counter(false, OS_VERSION_COUNTER); return 0; }
      if (verdict == MAILBOX_VERDICT_UNTRUSTED_KEY) { msgStr("update: refused: the core image is signed by a key this device does not trust for the OS"); finish(refuse(-EUNTRUSTED, UPDATE_REFUSED_CORE_UNTRUSTED_KEY, -1)); }
      else { msgStr("update: refused: the core image's signature does not verify (altered after signing)"); finish(refuse(-EINTEGRITY, UPDATE_REFUSED_CORE_BAD_SIGNATURE, -1)); }
      return 0;
    }
    if (verdict != MAILBOX_VERDICT_VERIFIED) {
      msgClear();
      if (verdict == MAILBOX_VERDICT_UNTRUSTED_KEY) { msgStr("feed: refused: signed by a key this device does not trust for apps"); finish(refuse(-EUNTRUSTED, UPDATE_REFUSED_FEED_UNTRUSTED_KEY, -1)); }
      else { msgStr("feed: refused: its signature does not verify (the manifest was altered after it was signed)"); finish(refuse(-EINTEGRITY, UPDATE_REFUSED_FEED_BAD_SIGNATURE, -1)); }
      return 0;
    }
    counter(false);
    return 0;
  }
  // COUNTER_READ / COUNTER_ADVANCE: the highest Sequence accepted.
  if (!ok || len != 8) { msgClear(); msgStr("update: feed: the security processor's sequence counter cannot be read"); finish(refuse(-EIO, 0, -1)); return 0; }
  const highest = load<u64>(p);
  if (chain == C_CORE_SIG) { coreCounted(highest); return 0; }
  if (cSequence < highest) {
    msgClear(); msgStr("feed: refused: Sequence "); msgInt(<i64>cSequence); msgStr(" is older than the last accepted ("); msgInt(<i64>highest);
    msgStr("): a replayed feed");
    finish(refuse(-EROLLBACK, UPDATE_REFUSED_FEED_REPLAYED, -1));
    return 0;
  }
  if (cSequence > highest) { counter(true); return 0; }
  feedApp = cApp;
  auditRecord(EV_FEED_ACCEPTED, cTask, cApp, SYS_UPDATE_FEED_VERIFY, <i32>(cSequence & 0x7fffffff), 0);
  finish(<i32>(cSequence & 0x7fffffff));
  return 0;
}

// ---- core images (SPEC.md "Core image", "OS boot state")

/**
 * Reads the boot-state log in the last block of the OS slot of `blocks` from `first` into `out`:
 * i32 the last valid record's state (0: none), u32 its sequence, u32 the highest sequence of any
 * valid record, i32 the offset of the first erased record (-1: the block is full). A record whose
 * magic or CRC is wrong (a torn program) is skipped; the first erased one ends the log. 0 or -EIO.
 */
function readLog(first: u32, blocks: u32, out: usize): i32 {
  const bb = storeBlockBytes();
  const base = (<u64>first + <u64>blocks - 1) * <u64>bb;
  store<i32>(out, 0); store<u32>(out, 0, 4); store<u32>(out, 0, 8); store<i32>(out, -1, 12);
  for (let off: u32 = 0; off + <u32>BOOT_STATE_RECORD_BYTES <= bb; off += <u32>BOOT_STATE_RECORD_BYTES) {
    if (flashReadBytes(bb, base + <u64>off, rec, BOOT_STATE_RECORD_BYTES) != 0) return -EIO;
    if (load<u64>(rec) == 0xffffffffffffffff && load<u64>(rec, 8) == 0xffffffffffffffff) { store<i32>(out, <i32>off, 12); return 0; }
    if (load<u32>(rec) != <u32>BOOT_STATE_MAGIC || load<u32>(rec, 12) != ~crc32(0xffffffff, rec, 12)) continue;
    const state = <i32>load<u16>(rec, 4);
    if (state < BOOT_STATE_PENDING || state > 4) continue;
    const seq = load<u32>(rec, 8);
    store<i32>(out, state);
    store<u32>(out, seq, 4);
    if (seq > load<u32>(out, 8)) store<u32>(out, seq, 8);
  }
  return 0;
}

/** Finds the OS slots (into `slots`) and reads both logs: the primary slot (0 A, 1 B), or -errno. */
function osState(): i32 {
  const bb = storeBlockBytes();
  if (bb == 0) return -EINVAL;
  const n = ptableParse(bb, storeBlockCount(), parts);
  if (n < 0) return n;
  let active = 0, found = 0;
  for (let i = 0; i < n; i++) {
    const e = parts + <usize>(i * 12);
    const type = <i32>load<u16>(e);
    if (type != PART_OS_A && type != PART_OS_B) continue;
    const k = type == PART_OS_A ? 0 : 1;
    store<u32>(slots + <usize>(k * 8), load<u32>(e, 4) / bb);
    store<u32>(slots + <usize>(k * 8 + 4), load<u32>(e, 8) / bb);
    if ((<u32>load<u16>(e, 2) & <u32>PART_FLAG_ACTIVE) != 0) active = k;
    found |= 1 << k;
  }
  if (found != 3) return -ENODEV;
  if (readLog(load<u32>(slots), load<u32>(slots, 4), logA) < 0 || readLog(load<u32>(slots, 8), load<u32>(slots, 12), logB) < 0) return -EIO;
  // Primary: the slot whose last record is CONFIRMED with the higher sequence; else the table's ACTIVE (factory) slot.
  const a = load<i32>(logA) == BOOT_STATE_CONFIRMED, b = load<i32>(logB) == BOOT_STATE_CONFIRMED;
  if (a && b) return load<u32>(logA, 4) >= load<u32>(logB, 4) ? 0 : 1;
  if (a) return 0;
  if (b) return 1;
  return active;
}

/** The image version in the primary OS slot's header, or -ENOENT (update_installed_version of the all-zero id). */
function osVersion(): i32 {
  const primary = osState();
  if (primary < 0) return primary;
  const bb = storeBlockBytes();
  if (flashReadBytes(bb, <u64>load<u32>(slots + <usize>(primary * 8)) * <u64>bb, header, 16) != 0) return -EIO;
  if (load<u32>(header) != <u32>CORE_IMAGE_MAGIC) return -ENOENT;
  return <i32>(load<u32>(header, 12) & 0x7fffffff);
}

/** update_stage_begin for a core image of `sizeBytes`: the non-primary OS slot erased, trailer first. */
function beginCore(task: i32, app: i32, sizeBytes: i32): i32 {
  const primary = osState();
  if (primary < 0) return refuseNow(task, app, primary, 0, "update: refused: this device has no two OS slots to stage a core image in");
  const other = 1 - primary;
  if (load<i32>(other == 0 ? logA : logB) == BOOT_STATE_TRYING) {
    return refuseNow(task, app, -EBUSY, UPDATE_REFUSED_CORE_ON_TRIAL, "update: refused: the running OS is on trial; an OS update waits until it is confirmed");
  }
  const bb = storeBlockBytes();
  const first = load<u32>(slots + <usize>(other * 8)), blocks = load<u32>(slots + <usize>(other * 8 + 4));
  const room = (blocks - 1) * bb;
  if (sizeBytes <= CORE_IMAGE_HEADER_BYTES || <u32>sizeBytes > room) {
    msgClear(); msgStr("update: refused: the core image is "); msgInt(<u32>sizeBytes); msgStr(" bytes; the other OS slot holds 97 to "); msgInt(room);
    keepMessage();
    auditRecord(EV_UPDATE_REFUSED, task, app, UPDATE_REFUSED_TOO_BIG, -1, -EFBIG);
    return -EFBIG;
  }
  // The trailer first: the slot's old records go before any of its bytes change.
  if (flash_erase(first + blocks - 1) != 0) return refuseNow(task, app, -EIO, 0, "update: the OS slot cannot be erased (flash)");
  for (let b: u32 = 0; b + 1 < blocks; b++) {
    if (flash_erase(first + b) != 0) return refuseNow(task, app, -EIO, 0, "update: the OS slot cannot be erased (flash)");
  }
  tFirst = first; tBlocks = blocks; sWritten = 0;
  return 0;
}

/** A core image's next `len` bytes (at the frame's payload) programmed in order into its slot. */
function writeCore(buf: usize, len: u32): i32 {
  const bb = storeBlockBytes();
  let done: u32 = 0;
  while (done < len) {
    const at = sWritten + done;
    const block = at / bb, off = at % bb;
    let n = bb - off;
    if (n > len - done) n = len - done;
    if (flash_prog(tFirst + block, off, buf + <usize>done, n) != 0) return -EIO;
    done += n;
  }
  sWritten += len;
  return <i32>sWritten;
}

/** The read-back digest of a staged core image is in: compare it, read the header, check its signature. */
function coreHashed(digest: usize): void {
  if (memory.compare(digest, desc + 16, SHA256_DIGEST_BYTES) != 0) {
    msgClear(); msgStr("update: refused: the download's SHA-256 is not the one its feed entry names (altered in transit or at the server)");
    finish(refuse(-EINTEGRITY, UPDATE_REFUSED_HASH, -1));
    return;
  }
  const bb = storeBlockBytes();
  if (flashReadBytes(bb, cBase, header, CORE_IMAGE_HEADER_BYTES) != 0) { msgClear(); msgStr("update: the staged core image cannot be read back"); finish(refuse(-EIO, 0, -1)); return; }
  const stored = load<u32>(header, 8);
  if (load<u32>(header) != <u32>CORE_IMAGE_MAGIC || load<u16>(header, 4) != CORE_IMAGE_FORMAT || load<u16>(header, 6) != 1 || <u64>stored + <u64>CORE_IMAGE_HEADER_BYTES != <u64>sBytes) {
    msgClear(); msgStr("update: refused: not a signed core image of format 2 whose stored bytes fill the download (SPEC.md, \"Core image\")");
    finish(refuse(-EINVAL, UPDATE_REFUSED_CORE_MALFORMED, -1));
    return;
  }
  cVersion = load<u32>(header, 12);
  memory.copy(keyId, header + 16, 16);
  memory.copy(signature, header + 32, 64);
  chain = C_CORE_SIG; cAt = 0; cLen = 16 + stored; cResult = 0;
  if (post(MAILBOX_CMD_SHA256_INIT, 0) < 0) { msgClear(); msgStr("update: the mailbox refused a request"); finish(refuse(-EIO, 0, -1)); }
}

/** Counter 0 (the OS version) is in: a verified image not below it gets its slot's PENDING record. */
function coreCounted(osCounter: u64): void {
  if (<u64>cVersion < osCounter) {
    msgClear(); msgStr("update: refused: the core image is version "); msgInt(cVersion); msgStr(", below the device's OS version counter ("); msgInt(<i64>osCounter); msgStr(")");
    finish(refuse(-EROLLBACK, UPDATE_REFUSED_CORE_OLDER, -1));
    return;
  }
  // PENDING takes one more than the highest sequence in either slot's log, at the target's first erased record.
  const primary = osState();
  const target = tFirst == load<u32>(slots) ? logA : logB;
  if (primary < 0 || load<i32>(target, 12) < 0) { msgClear(); msgStr("update: the OS slot's boot state cannot be read"); finish(refuse(-EIO, 0, -1)); return; }
  const highest = load<u32>(logA, 8) > load<u32>(logB, 8) ? load<u32>(logA, 8) : load<u32>(logB, 8);
  const seq = highest + 1;
  store<u32>(rec, <u32>BOOT_STATE_MAGIC);
  store<u16>(rec, <u16>BOOT_STATE_PENDING, 4);
  store<u16>(rec, 0, 6);
  store<u32>(rec, seq, 8);
  store<u32>(rec, ~crc32(0xffffffff, rec, 12), 12);
  const bb = storeBlockBytes();
  const off = <u32>load<i32>(target, 12);
  if (flash_prog(tFirst + tBlocks - 1, off, rec, BOOT_STATE_RECORD_BYTES) != 0) { msgClear(); msgStr("update: the PENDING record cannot be written (flash)"); finish(refuse(-EIO, 0, -1)); return; }
  const back = header; // the header is no longer needed: the record is read back into it
  if (flashReadBytes(bb, (<u64>tFirst + <u64>tBlocks - 1) * <u64>bb + <u64>off, back, BOOT_STATE_RECORD_BYTES) != 0 || memory.compare(back, rec, BOOT_STATE_RECORD_BYTES) != 0) {
    msgClear(); msgStr("update: the PENDING record does not read back (flash)"); finish(refuse(-EIO, 0, -1)); return;
  }
  auditRecord(EV_REBOOT_REQUESTED, cTask, cApp, SYS_UPDATE_STAGE_COMMIT, REBOOT_REASON_OS_UPDATE, <i32>(seq & 0x7fffffff));
  finish(0);
}

/** Starts a chain for `task`: SHA256_INIT posted and the task blocked, or -errno. */
function startChain(task: i32, app: i32, kind: i32): i32 {
  chain = kind; cTask = task; cApp = app; cAt = 0; cResult = 0; cReason = 0;
  if (post(MAILBOX_CMD_SHA256_INIT, 0) < 0) {
    chain = C_IDLE; cTask = -1; cApp = -1;
    if (gateHeld) { gateHeld = false; syseventUpdateDone(); }
    return refuseNow(task, app, -EPERM, 0, "update: this device has no security processor");
  }
  schedBlock(task, WAIT_MAILBOX, UPDATE_WAIT_OBJECT, -1);
  return SYSCALL_SUSPEND;
}

function sysFeedVerify(task: i32, app: i32, textPtr: i32, textLen: i32, sigPtr: i32, keyIdPtr: i32): i32 {
  if (textLen < 1 || textLen > FEED_MAX_BYTES) return refuseNow(task, app, -EFBIG, UPDATE_REFUSED_FEED_MALFORMED, "feed: refused: a manifest of 1 to 65536 bytes (FEED_MAX_BYTES)");
  let bad = rangeRefused(task, app, SYS_UPDATE_FEED_VERIFY, textPtr, textLen);
  if (bad == 0) bad = rangeRefused(task, app, SYS_UPDATE_FEED_VERIFY, sigPtr, 64);
  if (bad == 0) bad = rangeRefused(task, app, SYS_UPDATE_FEED_VERIFY, keyIdPtr, 16);
  if (bad < 0) return bad;
  if (chain != C_IDLE) return refuseNow(task, app, -EBUSY, 0, "update: another check is with the security processor; try again");
  if (app_copy_in(task, sigPtr, 64, signature) < 0 || app_copy_in(task, keyIdPtr, 16, keyId) < 0) return -EINVAL;
  cPtr = textPtr; cLen = <u32>textLen;
  scanReset();
  return startChain(task, app, C_FEED);
}

function sysStageBegin(task: i32, app: i32, kind: i32, sizeBytes: i32, descPtr: i32): i32 {
  const nr = SYS_UPDATE_STAGE_BEGIN;
  if (kind != UPDATE_KIND_APP && kind != UPDATE_KIND_CORE) return -EINVAL;
  const bad = rangeRefused(task, app, nr, descPtr, UPDATE_DESC_BYTES);
  if (bad < 0) return bad;
  if (feedApp != app) return refuseNow(task, app, -EPERM, UPDATE_REFUSED_NO_FEED, "update: refused: no feed verified yet (update_feed_verify first)");
  if (sTask >= 0) return refuseForLimit(task, app, nr, LIMIT_UPDATE_SESSIONS, -EBUSY);
  if (sizeBytes <= 0 || sizeBytes > PKG_MAX_BYTES) {
    msgClear(); msgStr("update: refused: the feed entry declares "); msgInt(<u32>sizeBytes); msgStr(" bytes; a package is at most 2097152 (PKG_MAX_BYTES)");
    keepMessage();
    auditRecord(EV_UPDATE_REFUSED, task, app, UPDATE_REFUSED_TOO_BIG, -1, -EFBIG);
    return -EFBIG;
  }
  if (app_copy_in(task, descPtr, UPDATE_DESC_BYTES, desc) < 0) return -EINVAL;
  if (kind == UPDATE_KIND_CORE) {
    const rc = beginCore(task, app, sizeBytes);
    if (rc < 0) return rc;
    const hc = handleAlloc(task, HANDLE_UPDATE, 0);
    if (hc < 0) return refuseHandle(task, app, nr, hc);
    sTask = task; sApp = app; sBytes = <u32>sizeBytes; sFailed = false; sKind = UPDATE_KIND_CORE;
    return hc;
  }
  const first = storeDeployBegin(sizeBytes, true);
  if (first < 0) {
    keepMessage();
    auditRecord(EV_UPDATE_REFUSED, task, app, first == -EFBIG ? UPDATE_REFUSED_TOO_BIG : 0, -1, first);
    return first;
  }
  const h = handleAlloc(task, HANDLE_UPDATE, 0);
  if (h < 0) { storeUpdateDrop(); return refuseHandle(task, app, nr, h); }
  sTask = task; sApp = app; sBytes = <u32>sizeBytes; sFailed = false; sKind = UPDATE_KIND_APP;
  return h;
}

function sysStageWrite(task: i32, app: i32, handle: i32, ptr: i32, len: i32): i32 {
  const nr = SYS_UPDATE_STAGE_WRITE;
  if (handleResolve(task, app, handle, KIND_UPDATE, nr) < 0) return -EBADF; // recorded by handleResolve
  if (len < 1 || len > UPDATE_WRITE_MAX_BYTES) return -EINVAL;
  const bad = rangeRefused(task, app, nr, ptr, len);
  if (bad < 0) return bad;
  if (chain == C_HASH || chain == C_ADMIT) return -EBUSY;
  const core = sKind == UPDATE_KIND_CORE;
  if (sFailed || (!core && storeUpdateWritten() < 0)) return refuseNow(task, app, -EINVAL, 0, "update: the staged update was dropped; close its handle and begin again");
  // The frame's payload is free between posts: it carries the bytes from the agent to the flash.
  const buf = payload();
  if (app_copy_in(task, ptr, len, buf) < 0) return -EINVAL;
  if ((core ? sWritten : <u32>storeUpdateWritten()) + <u32>len > sBytes) {
    sFailed = true;
    storeUpdateDrop();
    msgClear(); msgStr("update: refused: the download is longer than the "); msgInt(sBytes); msgStr(" bytes its feed entry declares");
    keepMessage();
    auditRecord(EV_UPDATE_REFUSED, task, app, UPDATE_REFUSED_OVERSIZE, -1, -EFBIG);
    return -EFBIG;
  }
  const rc = core ? writeCore(buf, <u32>len) : storeDeployWrite(buf, <u32>len, true);
  if (rc < 0) { sFailed = true; storeUpdateDrop(); return refuseNow(task, app, rc, 0, "update: the apps partition refused the bytes (flash)"); }
  return rc;
}

function sysStageCommit(task: i32, app: i32, handle: i32): i32 {
  const nr = SYS_UPDATE_STAGE_COMMIT;
  if (handleResolve(task, app, handle, KIND_UPDATE, nr) < 0) return -EBADF;
  if (chain != C_IDLE) return refuseNow(task, app, -EBUSY, 0, "update: another check is with the security processor; try again");
  const core = sKind == UPDATE_KIND_CORE;
  const written = core ? <i32>sWritten : storeUpdateWritten();
  if (sFailed || written < 0) return refuseNow(task, app, -EINVAL, 0, "update: the staged update was dropped; close its handle and begin again");
  if (<u32>written != sBytes) {
    sFailed = true;
    storeUpdateDrop();
    msgClear(); msgStr("update: refused: the download is truncated: "); msgInt(written); msgStr(" of the "); msgInt(sBytes); msgStr(" bytes its feed entry declares");
    keepMessage();
    auditRecord(EV_UPDATE_REFUSED, task, app, UPDATE_REFUSED_TRUNCATED, -1, -ENODATA);
    return -ENODATA;
  }
  // Nothing is applied before the system-event gate (drivers/sysevent.ts) lets it: a registered app
  // holding SoftwareUpdateDeferral is told the update is pending and may defer it. Held, the
  // staging stays as it is and the agent commits again later.
  const wait = syseventUpdateGate(core ? SYSEVENT_UPDATE_OS : SYSEVENT_UPDATE_APP, schedNow());
  if (wait < 0) {
    msgClear(); msgStr("update: another update is being announced to the apps; commit again later");
    keepMessage();
    return -EAGAIN;
  }
  if (wait > 0) {
    msgClear(); msgStr("update: held: the apps were told it is pending (an app may defer it); commit again in "); msgInt(wait); msgStr(" ms");
    keepMessage();
    return -EAGAIN;
  }
  gateHeld = true;
  sFailed = true; // one commit a staging: a refusal needs a new begin
  cLen = sBytes;
  cBase = <u64>tFirst * <u64>storeBlockBytes();
  return startChain(task, app, core ? C_CORE_HASH : C_HASH);
}

function sysInstalledVersion(task: i32, app: i32, idPtr: i32): i32 {
  const bad = rangeRefused(task, app, SYS_UPDATE_INSTALLED_VERSION, idPtr, 16);
  if (bad < 0) return bad;
  const buf = payload();
  if (app_copy_in(task, idPtr, 16, buf) < 0) return -EINVAL;
  // The all-zero id is the OS: the version in the primary OS slot's core image.
  if (load<u64>(buf) == 0 && load<u64>(buf, 8) == 0) return osVersion();
  return storeInstalledVersion(buf);
}

function sysLastError(task: i32, app: i32, ptr: i32, len: i32): i32 {
  if (len < 0) return -EINVAL;
  const n = len < lastErrorLen ? len : lastErrorLen;
  const bad = rangeRefused(task, app, SYS_UPDATE_LAST_ERROR, ptr, n);
  if (bad < 0) return bad;
  if (n > 0 && app_copy_out(task, lastError, ptr, n) < 0) return -EINVAL;
  return n;
}

/** The staged update's handle closed (close, exit, stop, crash): a staging not committed is dropped. */
function stageClose(): void {
  // A staging dropped while the apps were told it is pending (or deferred) ends that story for them.
  if (!gateHeld && (syseventStatus() == SYSEVENT_STATUS_PENDING || syseventStatus() == SYSEVENT_STATUS_DEFERRED)) syseventUpdateDone();
  // A core image left unfinished leaves its slot without a PENDING record: not bootable, nothing to drop.
  if (sKind == UPDATE_KIND_APP && chain != C_HASH && chain != C_ADMIT) storeUpdateDrop();
  sTask = -1; sApp = -1; sBytes = 0; sFailed = false; sKind = 0;
}

function call(task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  if (!UPDATES) return -ENOSYS;
  switch (nr) {
    case SYS_UPDATE_FEED_VERIFY: return sysFeedVerify(task, app, a0, a1, a2, a3);
    case SYS_UPDATE_STAGE_BEGIN: return sysStageBegin(task, app, a0, a1, a2);
    case SYS_UPDATE_STAGE_WRITE: return sysStageWrite(task, app, a0, a1, a2);
    case SYS_UPDATE_STAGE_COMMIT: return sysStageCommit(task, app, a0);
    case SYS_UPDATE_INSTALLED_VERSION: return sysInstalledVersion(task, app, a0);
    case SYS_UPDATE_LAST_ERROR: return sysLastError(task, app, a0, a1);
  }
  return -EINVAL;
}

function fuel(nr: i32, a1: i32, rc: i32): i32 {
  if (rc < 0 && rc != SYSCALL_SUSPEND) return SYSCALL_FUEL;
  if (nr == SYS_UPDATE_FEED_VERIFY) return SYSCALL_FUEL + (a1 / SHA256_MAX_BYTES + 4) * MAILBOX_CALL_FUEL + a1 * COPY_BYTE_FUEL;
  if (nr == SYS_UPDATE_STAGE_WRITE) return SYSCALL_FUEL + (rc > 0 ? a1 : 0) * COPY_BYTE_FUEL;
  if (nr == SYS_UPDATE_STAGE_COMMIT) return SYSCALL_FUEL + (<i32>(sBytes / <u32>SHA256_MAX_BYTES) + 8) * MAILBOX_CALL_FUEL;
  return SYSCALL_FUEL;
}

// @ts-ignore: decorator
@inline export function updateOp(op: i32, task: i32, app: i32, nr: i32, a0: i32, a1: i32, a2: i32, a3: i32): i32 {
  switch (op) {
    case OP_CALL: return call(task, app, nr, a0, a1, a2, a3);
    case OP_FUEL: return fuel(nr, a1, a2);
    case OP_OWNS: return nr >= SYS_UPDATE_FEED_VERIFY && nr <= SYS_UPDATE_LAST_ERROR ? 1 : 0;
    case OP_NEEDS: return <i32>CAP_UPDATE;
    case OP_OWNS_KIND: return a0 == HANDLE_UPDATE ? 1 : 0;
    case OP_CLOSE: if (UPDATES) stageClose(); return 0;
    case OP_RESET:
      gateHeld = false;
      chain = C_IDLE; cTask = -1; cApp = -1; cId = 0; sTask = -1; sApp = -1; sBytes = 0; sFailed = false; feedApp = -1; lastErrorLen = 0; sKind = 0;
      return 0;
  }
  return 0;
}
