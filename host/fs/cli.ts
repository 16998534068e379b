// `wasphere fs ...`: littlefs images through core.wasm.
import { Command } from "commander";

export function registerFsCommands(program: Command): void {
  program.command("fs").description("work with littlefs images through the core (mkfs, ls, get, put, ...)");
}
