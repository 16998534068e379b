// core.wasm variant with a read-only file system: mount, read, list, stat and get attributes;
// nothing that formats, writes, renames or removes is exported, so the compiler drops what only
// those reach.
import "../hal/abort";
export * from "../exports";
export * from "../flash/exports";
export {
  fs_config, fs_mount, fs_unmount, fs_open, fs_read, fs_seek,
  fs_tell, fs_file_size, fs_close, fs_stat, fs_dir_open, fs_dir_read, fs_dir_close, fs_getattr,
  fs_listattrs, fs_fsinfo, fs_size_blocks, fs_traverse, fs_ram_bytes, fs_ram_static_bytes,
  fs_mount_at, fs_select, fs_mount_ram_bytes, fs_mount_info,
} from "../fs/exports";
