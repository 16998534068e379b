// `wasphere footprint`: prints the footprint report, as a table, JSON or an SVG bar of the 4 MiB.
import { Command } from "commander";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FootprintReport } from "./footprint.js";
import { printable } from "./printable.js";

export const DEMO_APPS = ["blink", "button"].map((n) => fileURLToPath(new URL(`../../examples/${n}`, import.meta.url)));
export const BUDGET_PATH = fileURLToPath(new URL("../../footprint-budget.json", import.meta.url));

const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;

export function formatReport(r: FootprintReport): string {
  const rows: [string, string][] = [
    ["core.wasm", `${r.coreWasm.totalBytes} B (code ${r.coreWasm.codeBytes} B, data ${r.coreWasm.dataBytes} B)`],
    ...r.variants.map((v): [string, string] => [`  variant ${v.name}`, `${v.totalBytes} B (code ${v.codeBytes} B, data ${v.dataBytes} B)`]),
    ["core static data", `${r.coreStaticBytes} B (kernel tables ${r.kernelTableBytes} B, cabi arena ${r.cabiArenaBytes} B)`],
    ["core heap in use / peak", `${r.coreHeapInUseBytes} B / ${r.coreHeapPeakBytes} B`],
    ["limits", `${r.limits.maxApps} apps, ${r.limits.maxTasks} tasks, ${r.limits.maxHandles} handles (${r.limits.handlesPerTaskMax} a task), ${r.limits.maxTimers} timers, ${r.limits.maxGpioPins} GPIO pins, ${r.limits.auditEntries} audit entries`],
    ["file-system RAM", `${r.fsRamBytes} B (static tables and output buffer ${r.fsRamStaticBytes} B, caches and lookahead ${r.fsRamBytes - r.fsRamStaticBytes} B)`],
    ...r.fsMounts.map((m): [string, string] => [`  mount ${m.mount} (${m.role})`,
      `${m.ramBytes} B, blocks ${m.baseBlock}..${m.baseBlock + m.blocks - 1}, ${m.readOnly ? "read-only" : "read-write"}`]),
    ...r.apps.map((a): [string, string] => [`app ${printable(a.name)}`,
      `quota ${kib(a.quotaBytes)}, memory ${kib(a.memoryBytes)} (peak ${kib(a.memoryPeakBytes)}), core ${a.coreBytes} B, module ${a.moduleBytes} B -> ${a.instrumentedModuleBytes} B` +
      (a.cpuBudgetFuelPerSecond ? `, CPU budget ${a.cpuBudgetFuelPerSecond} fuel/s (held back ${a.cpuThrottledMs} ms)` : "")]),
    ["4 MiB split", `core ${kib(r.split.coreBytes)} / apps reserved ${kib(r.split.appReservedBytes)} / free ${kib(r.split.freeBytes)}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return [`footprint after ${r.slices} scheduler slices`, ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join("\n");
}

/** An app's name inside SVG text: markup characters as entities. */
const xmlText = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The 4 MiB as one bar: core static, heap peak, each app's reservation, free. */
export function footprintSvg(r: FootprintReport): string {
  const width = 800, barY = 40, barH = 48;
  const total = r.split.totalBytes;
  const parts: { label: string; bytes: number; color: string }[] = [
    { label: "core static", bytes: r.coreStaticBytes, color: "#4c72b0" },
    { label: "core heap peak", bytes: r.coreHeapPeakBytes, color: "#55a868" },
    ...r.apps.map((a, i) => ({ label: `${xmlText(printable(a.name))} (quota)`, bytes: a.quotaBytes, color: ["#dd8452", "#c44e52", "#8172b3", "#937860"][i % 4] })),
  ];
  const used = parts.reduce((s, p) => s + p.bytes, 0);
  parts.push({ label: "free", bytes: Math.max(0, total - used), color: "#e5e5e5" });
  let x = 0;
  const rects: string[] = [];
  const legend: string[] = [];
  parts.forEach((p, i) => {
    const w = (p.bytes / total) * width;
    rects.push(`<rect x="${x.toFixed(2)}" y="${barY}" width="${w.toFixed(2)}" height="${barH}" fill="${p.color}"><title>${p.label}: ${kib(p.bytes)}</title></rect>`);
    legend.push(`<rect x="10" y="${110 + i * 20}" width="12" height="12" fill="${p.color}"/><text x="28" y="${121 + i * 20}" font-size="13">${p.label}: ${kib(p.bytes)}</text>`);
    x += w;
  });
  const height = 120 + parts.length * 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width + 20}" height="${height}" font-family="sans-serif">
<text x="10" y="24" font-size="16">wasphere device RAM: ${kib(total)}</text>
<g transform="translate(10,0)">${rects.join("")}<rect x="0" y="${barY}" width="${width}" height="${barH}" fill="none" stroke="#333"/></g>
${legend.join("\n")}
</svg>
`;
}

export function registerFootprintCommand(program: Command): void {
  program
    .command("footprint")
    .description("boot a device with the apps (default: the demo apps), run a fixed workload and report memory use")
    .argument("[APP_DIR...]", "app directories (default: examples/blink examples/button)")
    .option("--json", "print the report as JSON (keys explained in DESIGN.md, Footprint)")
    .option("--svg <FILE>", "also draw the 4 MiB as a bar into FILE")
    .option("--budget <FILE>", "check the report against a budget file and exit 1 if over", undefined)
    .action(async (dirs: string[], opts: { json?: boolean; svg?: string; budget?: string }) => {
      // Loaded here, not at the top: binaryen is heavy, and other verbs never need it.
      const { checkBudget, measureFootprint } = await import("./footprint.js");
      const report = await measureFootprint(dirs.length ? dirs : DEMO_APPS);
      process.stdout.write((opts.json ? JSON.stringify(report, null, 2) : formatReport(report)) + "\n");
      if (opts.svg) writeFileSync(opts.svg, footprintSvg(report));
      if (opts.budget) {
        const lines = checkBudget(report, JSON.parse(readFileSync(opts.budget, "utf8")));
        const over = lines.filter((l) => !(l.over <= 0));
        for (const l of over) process.stderr.write(`over budget: ${l.figure} = ${l.value}, budget ${l.budget} (+${l.over})\n`);
        if (over.length) process.exitCode = 1;
      }
    });
}
