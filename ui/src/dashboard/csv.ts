// CSV downloads: the rows a panel shows, in RFC 4180 form. A text cell that begins with = + - @
// (or a tab or carriage return) is prefixed with ' so a spreadsheet shows it rather than runs it
// as a formula; numbers are written as numbers.

export type Cell = string | number | null | undefined;

export interface Table {
  columns: string[];
  rows: Cell[][];
}

const FORMULA = /^[=+\-@\t\r]/;

export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  const text = FORMULA.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(table: Table): string {
  const lines = [table.columns, ...table.rows].map((row) => row.map(csvCell).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

/** A file name from a panel's title: `usageql-top-models.csv`. */
export function csvName(title: string): string {
  const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  return `usageql-${slug || "panel"}.csv`;
}

export function download(table: Table, title: string): void {
  const blob = new Blob([toCsv(table)], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = csvName(title);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
