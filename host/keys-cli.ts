// `wasphere keys create NAME`: a P-256 signing key pair on disk, NAME.pem (PKCS8, mode 0600) and
// NAME.pub (SPKI), for `image-package pack-application --sign` and `show --verify`.
// Must not: overwrite an existing key file, or print the private key.
import { Command } from "commander";
import { createKeyFiles, KeyError } from "./pluton/keys.js";
import { printable } from "./printable.js";

export function registerKeysCommands(program: Command): void {
  const group = program.command("keys").description("signing keys for image packages (ECDSA P-256)");
  group.command("create")
    .description("make a P-256 key pair: NAME.pem (private, PKCS8 PEM, mode 0600) and NAME.pub (public, SPKI PEM); refuses to overwrite")
    .argument("<NAME>", "the files' path without extension")
    .action(async (name: string) => {
      try {
        const made = await createKeyFiles(name);
        process.stdout.write(`${printable(made.privatePath)}: private key (keep it secret)\n${printable(made.publicPath)}: public key, key id ${made.keyId}\n`);
      } catch (err) {
        if (!(err instanceof KeyError) && !(err as NodeJS.ErrnoException).code) throw err;
        process.stderr.write(`wasphere: ${printable((err as Error).message)}\n`);
        process.exitCode = 1;
      }
    });
}
