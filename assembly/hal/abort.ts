// The core's `abort` (asc --use abort=...): a broken invariant inside the core, never an app's
// error. It reports to the host and traps; expected errors are return codes.
import { panic } from "./index";

export function coreAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  panic(changetype<usize>(message), changetype<usize>(fileName), line, column);
  unreachable();
}
