// The view: everything that decides what the page asks for, held in the URL's query string
// (and nowhere else), so a view can be shared, bookmarked and reloaded.
import { Granularity, Metric, type UsageFilter } from "../gql/schema";
import { type CustomPanel, parsePanel, serializePanel } from "./custom";
import {
  type CivilDate,
  addDays,
  addMonths,
  formatDate,
  knownZone,
  midnight,
  parseDate,
  today,
} from "./time";

export const RANGES = {
  today: "Today",
  "7d": "Last 7 days",
  "30d": "Last 30 days",
  month: "This month",
  "last-month": "Last month",
  custom: "Custom",
} as const;
export type RangeName = keyof typeof RANGES;

export const GRANULARITIES = [Granularity.Hour, Granularity.Day, Granularity.Week, Granularity.Month] as const;
export type PageGranularity = (typeof GRANULARITIES)[number];

/** A time bucket the page is narrowed to (a click on a chart's bar or point), and the
 * granularity it was a bucket of (the page's again when the narrowing is removed). */
export interface Bucket {
  start: string;
  end: string;
  granularity: PageGranularity;
}

export interface ViewState {
  range: RangeName;
  from: string | null; // YYYY-MM-DD, first day of a custom range
  to: string | null; // YYYY-MM-DD, last day of a custom range (inclusive)
  timezone: string;
  granularity: PageGranularity | null; // null: the range's own
  apps: string[];
  models: string[];
  users: string[];
  tags: string[];
  bucket: Bucket | null;
  usersOrder: Metric;
  panels: CustomPanel[];
}

export const NARROWINGS = ["apps", "models", "users", "tags"] as const;
export type Narrowing = (typeof NARROWINGS)[number];
export const NARROWING_LABELS: Record<Narrowing, string> = {
  apps: "app",
  models: "model",
  users: "user",
  tags: "tag",
};
const PARAMETER: Record<Narrowing, string> = { apps: "app", models: "model", users: "user", tags: "tag" };
const DEFAULT_RANGE: RangeName = "30d";

export function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function granularity(value: string | null): PageGranularity | null {
  return (GRANULARITIES as readonly string[]).includes(value ?? "") ? (value as PageGranularity) : null;
}

const ORDERS: readonly string[] = Object.values(Metric);

export function parseView(search: string, defaultZone: string = browserZone()): ViewState {
  const query = new URLSearchParams(search);
  const range = (query.get("range") ?? DEFAULT_RANGE) as RangeName;
  const bucketGranularity = granularity(query.get("at.g"));
  const at = query.get("at");
  const [start, end] = at?.split("/") ?? [];
  const order = query.get("users.order") ?? Metric.Requests;
  return {
    range: range in RANGES ? range : DEFAULT_RANGE,
    from: parseDate(query.get("from")) ? query.get("from") : null,
    to: parseDate(query.get("to")) ? query.get("to") : null,
    timezone: query.get("tz") || defaultZone,
    granularity: granularity(query.get("g")),
    apps: query.getAll(PARAMETER.apps),
    models: query.getAll(PARAMETER.models),
    users: query.getAll(PARAMETER.users),
    tags: query.getAll(PARAMETER.tags),
    bucket:
      start && end && bucketGranularity && !Number.isNaN(Date.parse(start)) && !Number.isNaN(Date.parse(end))
        ? { start, end, granularity: bucketGranularity }
        : null,
    usersOrder: (ORDERS.includes(order) ? order : Metric.Requests) as Metric,
    panels: query.getAll("panel").flatMap((text) => {
      const panel = parsePanel(text);
      return panel === null ? [] : [panel];
    }),
  };
}

export function serializeView(view: ViewState): string {
  const query = new URLSearchParams();
  query.set("range", view.range);
  if (view.range === "custom") {
    if (view.from) query.set("from", view.from);
    if (view.to) query.set("to", view.to);
  }
  query.set("tz", view.timezone);
  if (view.granularity) query.set("g", view.granularity);
  for (const name of NARROWINGS) for (const value of view[name]) query.append(PARAMETER[name], value);
  if (view.bucket) {
    query.set("at", `${view.bucket.start}/${view.bucket.end}`);
    query.set("at.g", view.bucket.granularity);
  }
  if (view.usersOrder !== Metric.Requests) query.set("users.order", view.usersOrder);
  for (const panel of view.panels) query.append("panel", serializePanel(panel));
  return `?${query.toString()}`;
}

export interface Span {
  from: number; // ms, inclusive
  to: number; // ms, exclusive
  first: CivilDate; // the first day
  last: CivilDate; // the last day (inclusive)
}

/** The instants the view's range covers, in its time zone (a bucket narrows it further). */
export function rangeSpan(view: ViewState, now: number = Date.now()): Span {
  const zone = knownZone(view.timezone) ? view.timezone : "UTC";
  const day = today(zone, now);
  let first: CivilDate;
  let last: CivilDate = day;
  switch (view.range) {
    case "today":
      first = day;
      break;
    case "7d":
      first = addDays(day, -6);
      break;
    case "month":
      first = { ...day, day: 1 };
      last = addDays(addMonths(day, 1), -1);
      break;
    case "last-month":
      first = addMonths(day, -1);
      last = addDays({ ...day, day: 1 }, -1);
      break;
    case "custom": {
      first = parseDate(view.from) ?? addDays(day, -29);
      last = parseDate(view.to) ?? day;
      if (formatDate(last) < formatDate(first)) [first, last] = [last, first];
      break;
    }
    default:
      first = addDays(day, -29);
  }
  return { from: midnight(first, zone), to: midnight(addDays(last, 1), zone), first, last };
}

/** The granularity the page's series use: the view's, else what suits its range. */
export function pageGranularity(view: ViewState): PageGranularity {
  if (view.granularity) return view.granularity;
  if (view.range === "today") return Granularity.Hour;
  const span = rangeSpan(view);
  const days = (span.to - span.from) / 86_400_000;
  return days > 180 ? Granularity.Month : days > 62 ? Granularity.Week : Granularity.Day;
}

/** The granularity a bucket of `granularity` is drilled into. */
export function finer(granularity: PageGranularity): PageGranularity {
  return granularity === Granularity.Month || granularity === Granularity.Week
    ? Granularity.Day
    : Granularity.Hour;
}

/** The instants the page's figures cover: the range, narrowed to the bucket if one is chosen. */
export function effectiveSpan(view: ViewState, now: number = Date.now()): { from: number; to: number } {
  const span = rangeSpan(view, now);
  if (view.bucket === null) return span;
  return {
    from: Math.max(span.from, Date.parse(view.bucket.start)),
    to: Math.min(span.to, Date.parse(view.bucket.end)),
  };
}

/** The page's UsageFilter: its span and narrowings. */
export function pageFilter(view: ViewState, now: number = Date.now()): UsageFilter {
  const span = effectiveSpan(view, now);
  const filter: UsageFilter = {
    from: new Date(span.from).toISOString(),
    to: new Date(span.to).toISOString(),
  };
  if (view.apps.length) filter.apps = view.apps;
  if (view.models.length) filter.models = view.models;
  if (view.users.length) filter.users = view.users;
  if (view.tags.length) filter.tags = view.tags;
  return filter;
}

/** The view narrowed by one more value (a drill-down), or widened by removing one. */
export function narrowed(view: ViewState, name: Narrowing, value: string): ViewState {
  if (view[name].includes(value)) return view;
  return { ...view, [name]: name === "apps" ? [value] : [...view[name], value] };
}

export function widened(view: ViewState, name: Narrowing, value: string): ViewState {
  return { ...view, [name]: view[name].filter((item) => item !== value) };
}

/** The view narrowed to one bucket of the page's series, shown a step finer. */
export function drilled(view: ViewState, start: string, end: string): ViewState {
  const granularity = pageGranularity(view);
  return { ...view, bucket: { start, end, granularity }, granularity: finer(granularity) };
}

/** The view without its bucket, at the granularity it had before. */
export function undrilled(view: ViewState): ViewState {
  return view.bucket ? { ...view, bucket: null, granularity: view.bucket.granularity } : view;
}
