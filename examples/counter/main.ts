// counter: counts its own boots in its mutable storage (Azure Sphere's one mutable file) and logs
// the count. The count survives the app's restart, its replacement by a newer package and the
// device's reboots; deleting the app deletes it.
import { log, storage } from "@wasphere/sdk";

export function main(): i32 {
  const file = storage.openMutableFile();
  if (file < 0) {
    log("cannot open the mutable file (error " + file.toString() + ")");
    return 1;
  }
  const stored = storage.readAll(file);
  if (stored == null) { log("cannot read the mutable file"); return 1; }
  // 4 bytes little-endian; an empty file is the first boot.
  const previous = stored.byteLength >= 4 ? load<u32>(changetype<usize>(stored)) : 0;
  const count = previous + 1;
  const out = new ArrayBuffer(4);
  store<u32>(changetype<usize>(out), count);
  storage.seek(file, 0);
  const written = storage.writeAll(file, out);
  if (written != 4) { log("cannot write the count (error " + written.toString() + ")"); return 1; }
  log("boot " + count.toString() + " (storage: " + storage.usageBytes().toString() + " bytes used)");
  return 0;
}
