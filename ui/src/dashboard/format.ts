// Figures as the page shows them. Spend is null where nothing in a row is priced: "unpriced",
// never $0.

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const cents = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 4, maximumFractionDigits: 4 });

export const UNPRICED = "unpriced";

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : integer.format(value);
}

export function short(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : compact.format(value);
}

export function usd(value: number | null | undefined): string {
  if (value === null || value === undefined) return UNPRICED;
  return value !== 0 && Math.abs(value) < 0.01 ? cents.format(value) : dollars.format(value);
}

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${integer.format(value)} ms`;
}

export function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((100 * part) / whole)}%` : "–";
}

/** Spend in a CSV cell: the number, or "unpriced". */
export function usdCell(value: number | null | undefined): number | string {
  return value === null || value === undefined ? UNPRICED : value;
}
