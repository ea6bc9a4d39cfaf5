// Tables the panels share: a chart's rows (one per bucket, a button to narrow the page to it),
// and plain tables of cells.
import type { ReactNode } from "react";

import type { Series } from "../chart";
import { count, ms, usd } from "../format";
import type { Kind } from "../metrics";
import type { Bucketed } from "../series";
import { bucketLabel } from "../time";
import type { PanelContext } from "./types";

export function formatKind(kind: Kind, value: number | null | undefined): string {
  return kind === "usd" ? usd(value) : kind === "ms" ? ms(value) : count(value);
}

export function SeriesTable(props: {
  caption: string;
  buckets: readonly Bucketed[];
  series: readonly Series[];
  kind: Kind;
  context: PanelContext;
}) {
  const { caption, buckets, series, kind, context } = props;
  return (
    <div className="table-scroll">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Period</th>
            {series.map((s) => (
              <th scope="col" className="number" key={s.label}>
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {buckets.map((bucket, i) => (
            <tr key={bucket.start}>
              <th scope="row">
                <button
                  type="button"
                  className="link"
                  title="Narrow the page to this period"
                  onClick={() => context.drill(bucket.start, bucket.end)}
                >
                  {bucketLabel(bucket.start, context.granularity, context.timezone)}
                </button>
              </th>
              {series.map((s) => (
                <td className={s.values[i] === null ? "number unpriced" : "number"} key={s.label}>
                  {formatKind(kind, s.values[i])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export interface Column<R> {
  label: string;
  numeric?: boolean;
  cell: (row: R) => ReactNode;
  /** Set when the column's header orders the table (and whether it does now). */
  sort?: { active: boolean; onSort: () => void };
}

export function DataTable<R>(props: { caption: string; columns: Column<R>[]; rows: readonly R[]; rowKey: (row: R) => string }) {
  const { caption, columns, rows, rowKey } = props;
  return (
    <div className="table-scroll">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th
                scope="col"
                key={column.label}
                className={column.numeric ? "number" : undefined}
                aria-sort={column.sort?.active ? "descending" : undefined}
              >
                {column.sort ? (
                  <button type="button" className="sort" onClick={column.sort.onSort} title={`Order by ${column.label}`}>
                    {column.label}
                    {column.sort.active ? " ↓" : ""}
                  </button>
                ) : (
                  column.label
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((column) => (
                <td key={column.label} className={column.numeric ? "number" : undefined}>
                  {column.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A value that narrows the page to itself when clicked. */
export function Narrow(props: { label: string; title: string; onClick: () => void }) {
  return (
    <button type="button" className="link" title={props.title} onClick={props.onClick}>
      {props.label}
    </button>
  );
}

export function Spend({ value }: { value: number | null | undefined }) {
  return <span className={value === null || value === undefined ? "unpriced" : undefined}>{usd(value)}</span>;
}
