// core.wasm variant without the file system: the kernel alone, for devices with no flash storage.
// Same exports as the full core less every fs_* export and wit kernel's raw-flash parsers
// (pkg-parse, ptable-parse): a device without flash storage has nothing for them to read, and
// this core imports no flash call at all.
import "../hal/abort";
export * from "../exports";
