// core.wasm variant without the file system: the kernel alone, for devices with no flash storage.
// Same exports as the full core less every fs_* export.
import "../hal/abort";
export * from "../exports";
