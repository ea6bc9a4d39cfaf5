// A panel someone composed (see ../custom.ts): a line or stacked-bar chart over time (one line
// per metric, or per row of a breakdown), a table of a breakdown, or a pivot of two dimensions.
import { useMemo } from "react";

import type { DimensionKey, TimeBucket } from "../../gql/schema";
import { TimeChart, type Series } from "../chart";
import type { Cell, Table } from "../csv";
import type { CustomPanel } from "../custom";
import { UNPRICED } from "../format";
import { dimensionLabel, METRICS, type MetricName, type SelectedMetrics } from "../metrics";
import type { Narrowing } from "../state";
import { seriesTable } from "../series";
import { DataTable, formatKind, Narrow, SeriesTable } from "./tables";
import type { PanelContext } from "./types";

type Key = Pick<DimensionKey, "dimension" | "value">;
type Bucket = Pick<TimeBucket, "start" | "end"> & { metrics: SelectedMetrics };
interface Row {
  keys: Key[];
  metrics?: SelectedMetrics;
  usage?: { timeseries: Bucket[] };
}
/** What a composed panel's field answers. */
export type CustomData = Row[] | Bucket[];

const NARROWS: Partial<Record<string, Narrowing>> = { APP: "apps", MODEL: "models", USER: "users", TAG: "tags" };

function isSeries(panel: CustomPanel): boolean {
  return panel.chart === "line" || panel.chart === "bar";
}

function keyLabel(keys: readonly Key[]): string {
  return keys.map((key) => key.value ?? "(none)").join(" · ");
}

function cell(name: MetricName, metrics: SelectedMetrics | undefined): Cell {
  const value = metrics ? METRICS[name].read(metrics) : null;
  if (METRICS[name].kind === "usd" && (value === null || value === undefined)) return UNPRICED;
  return value ?? null;
}

/** The chart's buckets and series. */
function chartSeries(panel: CustomPanel, data: CustomData): { buckets: Bucket[]; series: Series[] } {
  if (panel.by.length === 0) {
    const buckets = data as Bucket[];
    return {
      buckets,
      series: panel.metrics.map((name) => ({
        label: METRICS[name].label,
        values: buckets.map((b) => METRICS[name].read(b.metrics)),
      })),
    };
  }
  const rows = data as Row[];
  const metric = panel.metrics[0] ?? "requests";
  const buckets = rows[0]?.usage?.timeseries ?? [];
  return {
    buckets,
    series: rows.map((row) => {
      const byStart = new Map((row.usage?.timeseries ?? []).map((b) => [Date.parse(b.start), b]));
      return {
        label: keyLabel(row.keys),
        values: buckets.map((b) => {
          const own = byStart.get(Date.parse(b.start));
          return own ? METRICS[metric].read(own.metrics) : 0;
        }),
      };
    }),
  };
}

function pivot(panel: CustomPanel, rows: Row[]) {
  const metric = panel.metrics[0] ?? "requests";
  const across = [...new Set(rows.map((r) => r.keys[1]?.value ?? "(none)"))];
  const down = [...new Set(rows.map((r) => r.keys[0]?.value ?? "(none)"))];
  const cells = new Map(rows.map((r) => [`${r.keys[0]?.value ?? "(none)"}\u0000${r.keys[1]?.value ?? "(none)"}`, r.metrics]));
  return { metric, across, down, value: (d: string, a: string) => cells.get(`${d}\u0000${a}`) };
}

export function customRows(panel: CustomPanel, data: CustomData): Table {
  if (isSeries(panel)) {
    const { buckets, series } = chartSeries(panel, data);
    const kind = METRICS[panel.metrics[0] ?? "requests"].kind;
    return seriesTable(buckets, series, (v) => (kind === "usd" && (v === null || v === undefined) ? UNPRICED : (v ?? null)));
  }
  const rows = data as Row[];
  if (panel.chart === "pivot") {
    const p = pivot(panel, rows);
    return {
      columns: [`${panel.by[0]} \\ ${panel.by[1]}`, ...p.across],
      rows: p.down.map((d) => [d, ...p.across.map((a) => {
        const metrics = p.value(d, a);
        return metrics === undefined ? null : cell(p.metric, metrics);
      })]),
    };
  }
  return {
    columns: [...panel.by, ...panel.metrics],
    rows: rows.map((row) => [...row.keys.map((k) => k.value), ...panel.metrics.map((name) => cell(name, row.metrics))]),
  };
}

export function customIsEmpty(panel: CustomPanel, data: CustomData): boolean {
  if (data.length === 0) return true;
  if (isSeries(panel)) return chartSeries(panel, data).series.every((s) => s.values.every((v) => !v));
  return false;
}

export function CustomView({ panel, data, context, showTable }: { panel: CustomPanel; data: CustomData; context: PanelContext; showTable: boolean }) {
  const chart = useMemo(() => (isSeries(panel) ? chartSeries(panel, data) : null), [panel, data]);
  const starts = useMemo(() => chart?.buckets.map((b) => b.start) ?? [], [chart]);
  const first = panel.metrics[0] ?? "requests";
  if (chart !== null) {
    if (showTable) {
      return <SeriesTable caption={panel.title} buckets={chart.buckets} series={chart.series} kind={METRICS[first].kind} context={context} />;
    }
    return (
      <TimeChart
        label={panel.title}
        starts={starts}
        series={chart.series}
        stacked={panel.chart === "bar"}
        kind={METRICS[first].kind}
        timezone={context.timezone}
        granularity={context.granularity}
        onBucket={(i) => {
          const bucket = chart.buckets[i];
          if (bucket) context.drill(bucket.start, bucket.end);
        }}
      />
    );
  }
  const rows = data as Row[];
  const keyCell = (key: Key | undefined) => {
    const narrowing = key ? NARROWS[key.dimension] : undefined;
    if (key?.value === null || key?.value === undefined) return "(none)";
    return narrowing ? (
      <Narrow label={key.value} title={`Narrow the page to this ${dimensionLabel(key.dimension).toLowerCase()}`} onClick={() => context.narrow(narrowing, key.value ?? "")} />
    ) : (
      key.value
    );
  };
  if (panel.chart === "pivot") {
    const p = pivot(panel, rows);
    return (
      <DataTable<string>
        caption={`${panel.title}: ${METRICS[p.metric].label} by ${dimensionLabel(panel.by[0] ?? "")} and ${dimensionLabel(panel.by[1] ?? "")}`}
        rows={p.down}
        rowKey={(d) => d}
        columns={[
          { label: dimensionLabel(panel.by[0] ?? ""), cell: (d) => keyCell(rows.find((r) => (r.keys[0]?.value ?? "(none)") === d)?.keys[0]) },
          ...p.across.map((a) => ({
            label: a,
            numeric: true,
            cell: (d: string) => {
              const metrics = p.value(d, a);
              return metrics === undefined ? "" : formatKind(METRICS[p.metric].kind, METRICS[p.metric].read(metrics));
            },
          })),
        ]}
      />
    );
  }
  return (
    <DataTable<Row>
      caption={panel.title}
      rows={rows}
      rowKey={(row) => JSON.stringify(row.keys)}
      columns={[
        ...panel.by.map((name, i) => ({ label: dimensionLabel(name), cell: (row: Row) => keyCell(row.keys[i]) })),
        ...panel.metrics.map((name) => ({
          label: METRICS[name].label,
          numeric: true,
          cell: (row: Row) => (row.metrics ? formatKind(METRICS[name].kind, METRICS[name].read(row.metrics)) : ""),
        })),
      ]}
    />
  );
}
