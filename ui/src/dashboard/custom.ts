// Panels people compose: dimensions (metadata keys included), metrics and a chart type. Each is
// one more field in the page's single request, and lives in the URL as one `panel` parameter.
import { isDimension, isMetricName, METADATA_PREFIX, METRICS, type MetricName, selection } from "./metrics";

export const CHARTS = { line: "Line", bar: "Stacked bar", table: "Table", pivot: "Pivot" } as const;
export type Chart = keyof typeof CHARTS;

export interface CustomPanel {
  title: string;
  chart: Chart;
  by: string[]; // Dimension names, or metadata.KEY
  metrics: MetricName[];
  limit: number;
}

export const MAX_LIMIT = 1000; // the server's largest limit
export const MAX_SERIES = 10; // lines or stacks one chart draws
export const MAX_METADATA_KEY = 64;

/** What is wrong with a panel as composed, or null. */
export function problem(panel: CustomPanel): string | null {
  if (panel.metrics.length === 0) return "Choose at least one metric.";
  if (panel.chart === "pivot" && (panel.by.length !== 2 || panel.metrics.length !== 1))
    return "A pivot needs exactly two dimensions (rows, columns) and one metric.";
  if (panel.chart === "table" && panel.by.length === 0) return "A table needs at least one dimension.";
  if ((panel.chart === "line" || panel.chart === "bar") && panel.by.length > 1)
    return "A chart splits its series by one dimension at most.";
  if ((panel.chart === "line" || panel.chart === "bar") && panel.by.length === 1 && panel.metrics.length > 1)
    return "A chart split by a dimension shows one metric.";
  if (!Number.isInteger(panel.limit) || panel.limit < 1 || panel.limit > MAX_LIMIT)
    return `Rows must be between 1 and ${MAX_LIMIT}.`;
  return null;
}

function encode(value: string): string {
  return value.replace(/[%~,]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** `chart~by,by~metric,metric~limit~title` (separators inside values are %-escaped). */
export function serializePanel(panel: CustomPanel): string {
  return [
    panel.chart,
    panel.by.map(encode).join(","),
    panel.metrics.join(","),
    String(panel.limit),
    encode(panel.title),
  ].join("~");
}

export function parsePanel(text: string): CustomPanel | null {
  const [chart = "", by = "", metrics = "", limit = "", title = ""] = text.split("~");
  if (!(chart in CHARTS)) return null;
  const dimensions = by ? by.split(",").map(decode) : [];
  if (!dimensions.every((d) => isDimension(d) || d.startsWith(METADATA_PREFIX))) return null;
  const names = metrics ? metrics.split(",") : [];
  if (!names.every(isMetricName)) return null;
  return {
    chart: chart as Chart,
    by: dimensions,
    metrics: names,
    limit: Number(limit) || 20,
    title: decode(title) || "Custom panel",
  };
}

/** The GraphQL string literal of `value` (JSON's escapes are GraphQL's). */
function literal(value: string): string {
  return JSON.stringify(value);
}

function breakdownArguments(panel: CustomPanel, limit: number): string {
  const dimensions = panel.by.filter(isDimension);
  const keys = panel.by.filter((d) => !isDimension(d)).map((d) => d.slice(METADATA_PREFIX.length));
  const order = panel.metrics.map((name) => METRICS[name].order).find((o) => o !== null);
  return [
    `by: [${dimensions.join(", ")}]`,
    keys.length ? `metadataKeys: [${keys.map(literal).join(", ")}]` : "",
    order ? `orderBy: {metric: ${order}}` : "",
    `limit: ${limit}`,
  ]
    .filter(Boolean)
    .join(", ");
}

/** The panel as a field of `usage`, under `alias`. */
export function panelField(alias: string, panel: CustomPanel): string {
  const metrics = `metrics { ${selection(panel.metrics)} }`;
  const series = `timeseries(granularity: $granularity) { start end ${metrics} }`;
  if (panel.chart === "line" || panel.chart === "bar") {
    if (panel.by.length === 0) return `${alias}: ${series}`;
    const limit = Math.min(panel.limit, MAX_SERIES);
    return `${alias}: breakdown(${breakdownArguments(panel, limit)}) { keys { dimension value } usage { ${series} } }`;
  }
  return `${alias}: breakdown(${breakdownArguments(panel, panel.limit)}) { keys { dimension value } ${metrics} }`;
}

/** At most how many rows the panel's field can return, given a series' bucket count. */
export function panelRows(panel: CustomPanel, buckets: number): number {
  if (panel.chart === "line" || panel.chart === "bar") {
    return panel.by.length === 0 ? buckets : Math.min(panel.limit, MAX_SERIES) * (buckets + 1);
  }
  return panel.limit;
}
