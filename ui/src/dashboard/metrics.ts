// What a composed panel can show: each metric once, with its label, its selection in the
// schema's Metrics type, how to read it from an answer and which Metric orders by it.
import { Dimension, Metric, type Metrics } from "../gql/schema";

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> | null : T[K] | null };
/** Metrics as an answer holds them: only the selected fields are there. */
export type SelectedMetrics = DeepPartial<Metrics>;

export type Kind = "count" | "usd" | "ms";

export interface MetricDef {
  label: string;
  select: string; // the selection under `metrics { ... }`
  read: (metrics: SelectedMetrics) => number | null | undefined;
  order: Metric | null; // what orders rows by it, if anything does
  kind: Kind;
}

export const METRICS = {
  messages: { label: "Messages", select: "messages", read: (m) => m.messages, order: Metric.Messages, kind: "count" },
  requests: { label: "Requests", select: "requests", read: (m) => m.requests, order: Metric.Requests, kind: "count" },
  successfulRequests: {
    label: "Successful requests",
    select: "successfulRequests",
    read: (m) => m.successfulRequests,
    order: Metric.SuccessfulRequests,
    kind: "count",
  },
  failedRequests: {
    label: "Errors",
    select: "failedRequests",
    read: (m) => m.failedRequests,
    order: Metric.FailedRequests,
    kind: "count",
  },
  inputTokens: {
    label: "Input tokens",
    select: "tokens { input }",
    read: (m) => m.tokens?.input,
    order: Metric.InputTokens,
    kind: "count",
  },
  outputTokens: {
    label: "Output tokens",
    select: "tokens { output }",
    read: (m) => m.tokens?.output,
    order: Metric.OutputTokens,
    kind: "count",
  },
  cacheReadTokens: {
    label: "Cache read tokens",
    select: "tokens { cacheRead }",
    read: (m) => m.tokens?.cacheRead,
    order: Metric.CacheReadTokens,
    kind: "count",
  },
  reasoningTokens: {
    label: "Reasoning tokens",
    select: "tokens { reasoning }",
    read: (m) => m.tokens?.reasoning,
    order: Metric.ReasoningTokens,
    kind: "count",
  },
  totalTokens: {
    label: "Total tokens",
    select: "tokens { total }",
    read: (m) => m.tokens?.total,
    order: Metric.TotalTokens,
    kind: "count",
  },
  spend: { label: "Spend", select: "spend", read: (m) => m.spend, order: Metric.Spend, kind: "usd" },
  unpricedRequests: {
    label: "Unpriced requests",
    select: "unpricedRequests",
    read: (m) => m.unpricedRequests,
    order: null,
    kind: "count",
  },
  users: { label: "Users", select: "users", read: (m) => m.users, order: Metric.Users, kind: "count" },
  chats: { label: "Chats", select: "chats", read: (m) => m.chats, order: Metric.Chats, kind: "count" },
  latencyP50: { label: "Latency p50", select: "latencyMs { p50 }", read: (m) => m.latencyMs?.p50, order: null, kind: "ms" },
  latencyP95: { label: "Latency p95", select: "latencyMs { p95 }", read: (m) => m.latencyMs?.p95, order: null, kind: "ms" },
  ttftP50: { label: "Time to first token p50", select: "ttftMs { p50 }", read: (m) => m.ttftMs?.p50, order: null, kind: "ms" },
} satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

export function isMetricName(name: string): name is MetricName {
  return Object.hasOwn(METRICS, name);
}

/** The selection of several metrics, merged (`tokens { input output }`, not twice `tokens`). */
export function selection(names: readonly MetricName[]): string {
  const plain: string[] = [];
  const nested = new Map<string, string[]>();
  for (const name of names) {
    const select = METRICS[name].select;
    const match = /^(\w+) \{ (\w+) \}$/.exec(select);
    if (match === null) plain.push(select);
    else {
      const [, parent = "", child = ""] = match;
      nested.set(parent, [...(nested.get(parent) ?? []), child]);
    }
  }
  const merged = [...nested].map(([parent, children]) => `${parent} { ${[...new Set(children)].join(" ")} }`);
  return [...new Set(plain), ...merged].join(" ");
}

/** Dimensions a composed panel can group by: the schema's, and any metadata key. */
export const DIMENSIONS = Object.values(Dimension);
export const DIMENSION_LABELS: Record<Dimension, string> = {
  APP: "App",
  MODEL: "Model",
  PROVIDER: "Provider",
  USER: "User",
  CHAT: "Chat",
  TAG: "Tag",
  SOURCE: "Source",
  API_KEY: "API key",
  STATUS: "Status",
  ROLE: "Role",
  PRODUCER: "Producer",
};
export const METADATA_PREFIX = "metadata.";

export function isDimension(name: string): name is Dimension {
  return (DIMENSIONS as string[]).includes(name);
}

export function dimensionLabel(name: string): string {
  return isDimension(name) ? DIMENSION_LABELS[name] : name;
}
