// device-control: what a device answers to the `wasphere device ...` verbs (deploy and delete an
// image package, start and stop an app, its status, quota and memory statistics, the installed
// images), whether the device is running (its control endpoint answers) or stopped (the verbs work
// directly on its flash, through a core booted for the purpose and no app running).
//
// One interface, two implementations: the booted device (`wasphere device boot`) and the stopped
// device on its flash. The control endpoint carries these calls as JSON (SPEC.md, "Control
// endpoint"), so a report here is plain data: numbers, strings, booleans, arrays of them.
// Invariants: a ComponentId is the GUID text of SPEC.md (lowercase, 8-4-4-4-12); every string that
// came from a package or an app is already printable (host/printable.ts) when it leaves here.
// Must not: decide anything. Whether a package is accepted, replaced, started or refused is the
// core's decision; an implementation carries it out and reports it.

/** One image package installed on the device, as the core's installed-app list holds it. */
export interface ImageReport {
  componentId: string;
  imageId: string;
  /** The package's debug name (its manifest's Name). */
  name: string;
  version: number;
  /** IMAGE_TYPE_* (assembly/abi.ts). */
  imageType: number;
  packageBytes: number;
  /** Where the package lies on the device flash (it is mounted there, in place). */
  offsetBytes: number;
}

/** What a deploy did: the package now installed, and whether it replaced one of the same ComponentId. */
export interface DeployReport extends ImageReport {
  replaced: boolean;
}

/** An installed app's state, as `device app show-status` prints it. */
export interface AppReport {
  componentId: string;
  name: string;
  /** "running", "stopped", "waiting-restart" (crashed; the core restarts it), "gave-up" (crashed too often). */
  state: "running" | "stopped" | "waiting-restart" | "gave-up";
  crashes: number;
  restarts: number;
}

/** `device app show-quota`: the app's mutable storage (0 and 0 when its manifest asks for none). */
export interface QuotaReport {
  componentId: string;
  name: string;
  quotaBytes: number;
  usedBytes: number;
}

/** `device app show-memory-stats`: the app's RAM as the core accounts for it. */
export interface MemoryStatsReport {
  componentId: string;
  name: string;
  /** What the core reserved for it from the app RAM pool. */
  quotaBytes: number;
  /** Its instance's linear memory now (0 when not running). */
  memoryBytes: number;
  /** The most its instance has had since it was installed. */
  memPeakBytes: number;
}

/**
 * Why a verb was refused. `code`: "not-installed" (no such ComponentId), "refused" (the core
 * refused: a bad package, a resource another app owns, a full flash), "bad-request" (a malformed
 * request, on the control endpoint), "unavailable" (the device cannot do it now), "internal".
 * `message` is one printable line.
 */
export class ControlError extends Error {
  constructor(readonly code: "not-installed" | "refused" | "bad-request" | "unavailable" | "internal", message: string) {
    super(message);
  }
}

export interface DeviceControl {
  listInstalled(): Promise<ImageReport[]>;
  /** Installs the package, or replaces the installed one of the same ComponentId atomically (old or new, never neither). */
  deploy(packageBytes: Uint8Array): Promise<DeployReport>;
  /** Deletes the app, its package and its mutable storage. */
  remove(componentId: string): Promise<void>;
  start(componentId: string): Promise<AppReport>;
  stop(componentId: string): Promise<AppReport>;
  status(componentId: string): Promise<AppReport>;
  quota(componentId: string): Promise<QuotaReport>;
  memoryStats(componentId: string): Promise<MemoryStatsReport>;
}
