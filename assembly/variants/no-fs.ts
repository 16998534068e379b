// core.wasm variant without the file system: the kernel alone, for devices with no flash storage.
// Same exports as the full core less every fs_* export. The raw-flash parsers (pkg_parse,
// ptable_parse) are wit kernel's, so they stay; on a device without flash they answer -EIO.
import "../hal/abort";
export * from "../exports";
export * from "../flash/exports";
