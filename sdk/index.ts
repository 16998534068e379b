// @wasphere/sdk: the wasphere app SDK for AssemblyScript. An app imports it by its package name,
// `import { gpio, log } from "@wasphere/sdk";`; `wasphere` builds resolve that name to the SDK of
// the wasphere installation (host/apps/build.ts), wherever the app's directory is.
export * from "./applibs";
export * from "./http";
export * from "./web";
