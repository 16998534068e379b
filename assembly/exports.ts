import { staticBytes } from "./kmem";
export function mem_static_bytes(): i32 { return <i32>staticBytes(); }
