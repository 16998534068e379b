// ota-counter: a test app whose log says which build runs and how many times any build of it
// started on this device: CmdArgs[0] names the build ("v1", "v2"); the start count is kept in
// its mutable file, so a test sees that an update kept the app's storage. It then sleeps.
// Memory: a few bytes. Must not: exit (a running app is what an update replaces).
import { log, args, storage, sleepMs } from "@wasphere/sdk";

export function main(): i32 {
  const a = args();
  const build = a.length > 0 ? a[0] : "?";
  const h = storage.openMutableFile();
  if (h < 0) { log(build + ": storage refused " + h.toString()); return 1; }
  const old = storage.readAll(h);
  let count: u32 = 0;
  if (old != null && old.byteLength == 4) count = load<u32>(changetype<usize>(old));
  count++;
  const buf = new ArrayBuffer(4);
  store<u32>(changetype<usize>(buf), count);
  storage.seek(h, 0, 0);
  const w = storage.writeAll(h, buf);
  log(build + ": start " + count.toString() + (w == 4 ? "" : " (not saved: " + w.toString() + ")"));
  while (true) sleepMs(60000);
  return 0;
}
