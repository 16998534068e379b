// Every spec runs the core's heap in an arena of its own: the test runtime owns __heap_base.
import { kmemUseArena } from "../../assembly/kmem";
const SPEC_ARENA_BYTES: usize = 2 << 20;
const specArena = memory.data(<i32>SPEC_ARENA_BYTES, 16);
kmemUseArena(specArena, specArena + SPEC_ARENA_BYTES);
// The canonical ABI's allocator, for the hal stand-ins that return lists (as-pect.config.js).
export { cabi_realloc } from "../../assembly/cabi";
