export function fs_ram_bytes(): i32 { return 0; }
