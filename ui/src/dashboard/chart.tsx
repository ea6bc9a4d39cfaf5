// Time series drawn with uPlot: lines, or bars stacked by drawing each running total over the
// next (the first series at the bottom). A click on a bucket narrows the page to it.
import "uplot/dist/uPlot.min.css";

import { useEffect, useRef } from "react";
import uPlot from "uplot";

import type { Granularity } from "../gql/schema";
import { count, ms, short, usd } from "./format";
import type { Kind } from "./metrics";

export interface Series {
  label: string;
  values: (number | null | undefined)[];
  color?: string;
}

export interface TimeChartProps {
  label: string; // what the chart shows, for people who cannot see it
  starts: string[]; // bucket starts (ISO 8601)
  series: Series[];
  stacked: boolean;
  kind: Kind;
  timezone: string;
  granularity: Granularity;
  onBucket?: (index: number) => void;
  height?: number;
}

export const PALETTE = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#94a3b8"];

function formatValue(kind: Kind, value: number | null | undefined): string {
  return kind === "usd" ? usd(value) : kind === "ms" ? ms(value) : count(value);
}

function axisValue(kind: Kind, value: number): string {
  if (kind === "usd") return value >= 1000 ? `$${short(value)}` : `$${Number(value.toFixed(2))}`;
  return kind === "ms" ? ms(value) : short(value);
}

function running(series: Series[]): (number | null)[][] {
  const totals = series[0]?.values.map(() => 0) ?? [];
  return series.map((s) =>
    s.values.map((value, i) => {
      totals[i] = (totals[i] ?? 0) + (value ?? 0);
      return totals[i] ?? 0;
    }),
  );
}

export function TimeChart(props: TimeChartProps) {
  const { label, starts, series, stacked, kind, timezone, granularity, onBucket, height = 240 } = props;
  const container = useRef<HTMLDivElement>(null);
  const click = useRef(onBucket);
  click.current = onBucket;

  useEffect(() => {
    const target = container.current;
    if (target === null) return undefined;
    const xs = starts.map((start) => Date.parse(start) / 1000);
    // Stacked: series k is drawn as the running total of series 0..k, the tallest first.
    const drawn = stacked ? running(series).reverse() : series.map((s) => s.values.map((v) => v ?? null));
    const shown = stacked ? [...series].reverse() : series;
    const colours = series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length] ?? "#64748b");
    // Bars are centred on their bucket's start: half a bucket of room at each end.
    const steps = xs.slice(1).map((x, i) => x - (xs[i] ?? x)).filter((d) => d > 0);
    const half = stacked ? Math.min(...steps, 86_400) / 2 : 0;
    const ordered = stacked ? [...colours].reverse() : colours;
    const bars = uPlot.paths.bars?.({ size: [0.8, 64], gap: 1 });
    const options: uPlot.Options = {
      width: Math.max(target.clientWidth, 200),
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timezone),
      cursor: { points: { show: !stacked }, drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true, range: (_u, min, max) => [min - half, max + half] }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1] } },
      axes: [
        { stroke: "#52606d", grid: { stroke: "#eef1f4" }, ticks: { stroke: "#d9dee3" } },
        {
          stroke: "#52606d",
          grid: { stroke: "#eef1f4" },
          ticks: { stroke: "#d9dee3" },
          size: 64,
          values: (_u, splits) => splits.map((v) => axisValue(kind, v)),
        },
      ],
      series: [
        {
          label: granularity === "HOUR" ? "Hour" : "Period",
          value: (_u, v) => (v === null ? "–" : new Intl.DateTimeFormat("en-US", {
            timeZone: timezone,
            month: "short",
            day: "numeric",
            year: granularity === "HOUR" ? undefined : "numeric",
            hour: granularity === "HOUR" ? "2-digit" : undefined,
            minute: granularity === "HOUR" ? "2-digit" : undefined,
          }).format(new Date(v * 1000))),
        },
        ...shown.map((s, i) => {
          const colour = ordered[i] ?? "#64748b";
          return {
            label: s.label,
            stroke: colour,
            width: stacked ? 0 : 2,
            fill: stacked ? colour : undefined,
            paths: stacked ? bars : undefined,
            points: { show: false },
            spanGaps: false,
            value: (_u: uPlot, _v: number | null, _s: number, index: number | null) =>
              index === null ? "–" : formatValue(kind, s.values[index]),
          } satisfies uPlot.Series;
        }),
      ],
    };
    const plot = new uPlot(options, [xs, ...drawn] as uPlot.AlignedData, target);
    const onClick = () => {
      const index = plot.cursor.idx;
      if (index !== null && index !== undefined) click.current?.(index);
    };
    plot.over.addEventListener("click", onClick);
    plot.over.style.cursor = onBucket ? "pointer" : "default";
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(target.clientWidth, 200), height }));
    resize.observe(target);
    return () => {
      resize.disconnect();
      plot.over.removeEventListener("click", onClick);
      plot.destroy();
    };
  }, [starts, series, stacked, kind, timezone, granularity, height, onBucket !== undefined]);

  return <figure className="chart" aria-label={label} ref={container} />;
}
