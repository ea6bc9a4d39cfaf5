// A series stacked by its top rows (models, say) and the rest: what each bucket of the total
// holds beyond the top rows' share is "other".
import type { Series } from "./chart";
import type { Cell, Table } from "./csv";

export interface Bucketed {
  start: string;
  end: string;
}

/** Top rows' values per bucket of `total` (matched by bucket start), and "other". */
export function stackedByRow<B extends Bucketed, R>(
  total: readonly B[],
  rows: readonly R[],
  label: (row: R) => string,
  series: (row: R) => readonly B[],
  read: (bucket: B) => number | null | undefined,
): Series[] {
  const stacks = rows.map((row) => {
    const byStart = new Map(series(row).map((bucket) => [Date.parse(bucket.start), bucket]));
    return {
      label: label(row),
      values: total.map((bucket) => {
        const own = byStart.get(Date.parse(bucket.start));
        return own === undefined ? 0 : read(own);
      }),
    };
  });
  const other = total.map((bucket, i) => {
    const all = read(bucket);
    if (all === null || all === undefined) return null;
    const shown = stacks.reduce((sum, stack) => sum + (stack.values[i] ?? 0), 0);
    return Math.max(0, all - shown);
  });
  const hasOther = other.some((value) => value !== null && value > 1e-9);
  return hasOther ? [...stacks, { label: "other", values: other, color: "#94a3b8" }] : stacks;
}

/** A chart's rows as a table: one row per bucket, one column per series. */
export function seriesTable(
  buckets: readonly Bucketed[],
  series: readonly Series[],
  cell: (value: number | null | undefined) => Cell,
): Table {
  return {
    columns: ["start", "end", ...series.map((s) => s.label)],
    rows: buckets.map((bucket, i) => [bucket.start, bucket.end, ...series.map((s) => cell(s.values[i]))]),
  };
}
