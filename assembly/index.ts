// core.wasm entry: re-exports every core export. The export list is ABI.md's "Core exports" table.
import "./hal/abort";
export * from "./exports";
export * from "./fs/exports";
export * from "./flash/exports";
export * from "./appmgr/store-exports";
