// io: the core's I/O buffer, where strings cross the host boundary (ABI.md, conventions).
//
// What it is: IO_BUFFER_BYTES static bytes. The host writes a manifest (or a path, or file data)
// here and passes its length; the core writes results (app strings) here for the host to read.
// Invariants: nothing in the core keeps a pointer into it across calls; every read of it is
// bounded by the length the host passed, checked against IO_BUFFER_BYTES.
// Budget: IO_BUFFER_BYTES static bytes.
// Must not: be used as scratch space by a subsystem while the host's data is still needed.
import { IO_BUFFER_BYTES } from "../abi";

const ioBuffer = memory.data(IO_BUFFER_BYTES, 16);

export function ioBufferPtr(): usize { return ioBuffer; }
