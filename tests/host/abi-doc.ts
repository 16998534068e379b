// Reads ABI.md's tables, for the tests that hold the page to the code (abi.test, wit.test).

/** Rows of the markdown table that follows the heading (## or ###) that starts with `heading`, without its header row. */
export function abiTable(doc: string, heading: string): string[][] {
  const lines = doc.split("\n");
  const start = lines.findIndex((l) => /^###? /.test(l) && l.replace(/^###? /, "").startsWith(heading));
  if (start < 0) throw new Error(`ABI.md has no section "${heading}"`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (/^###? /.test(line)) break;
    if (!line.startsWith("|")) { if (inTable) break; continue; }
    inTable = true;
    if (/^\|\s*-/.test(line)) continue;
    rows.push(line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim().replace(/\\\|/g, "|")));
  }
  return rows.slice(1);
}

/** The first `code` span of a cell, or "". */
export const code = (cell: string) => /`([^`]+)`/.exec(cell)?.[1] ?? "";
