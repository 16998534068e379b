// network-manager: the system app that owns the device's networking status (SPEC.md, "System
// apps"). It asks the host for the interface (net_admin probe) and publishes what it found
// (net_admin publish), which every app reads with net_status (Networking_IsNetworkingReady) and
// which the core requires before any app may connect or listen. It probes again every
// PROBE_PERIOD_MS and publishes only a change, logging each one, so a link that goes down or
// comes back is seen by apps within that period.
// Its capability, NetworkManager, is one no user manifest can hold: only the boot loader installs
// this app, from the OS image (Device.installSystem).
// Memory: two 32-byte records.
import { net, log, sleepMs } from "@wasphere/sdk";

const PROBE_PERIOD_MS = 1000;

function describe(record: ArrayBuffer): string {
  const p = changetype<usize>(record);
  if (load<u8>(p) == 0) return "networking not ready";
  let name = "";
  for (let i = 8; i < 32 && load<u8>(p + <usize>i) != 0; i++) name += String.fromCharCode(load<u8>(p + <usize>i));
  const ip = load<u8>(p, 4).toString() + "." + load<u8>(p, 5).toString() + "." + load<u8>(p, 6).toString() + "." + load<u8>(p, 7).toString();
  return "networking ready on " + name + " (" + ip + ")";
}

export function main(): i32 {
  const found = new ArrayBuffer(net.STATUS_BYTES);
  const published = new ArrayBuffer(net.STATUS_BYTES);
  let first = true;
  while (true) {
    const rc = net.adminProbe(found);
    // No network on this host (-ENODEV) is a status too: not ready.
    if (rc != net.STATUS_BYTES) memory.fill(changetype<usize>(found), 0, net.STATUS_BYTES);
    if (first || memory.compare(changetype<usize>(found), changetype<usize>(published), net.STATUS_BYTES) != 0) {
      const pub = net.adminPublish(found);
      if (pub < 0) { log("cannot publish the networking status (error " + pub.toString() + ")"); return 1; }
      memory.copy(changetype<usize>(published), changetype<usize>(found), net.STATUS_BYTES);
      log(describe(found) + (rc < 0 && rc != net.STATUS_BYTES ? " (the host has no network: error " + rc.toString() + ")" : ""));
      first = false;
    }
    sleepMs(PROBE_PERIOD_MS);
  }
}
