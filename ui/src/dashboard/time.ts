// Calendar arithmetic in an IANA time zone, for the range presets and chart labels. The server
// cuts buckets itself (ISO weeks, calendar months, DST days); the page only needs the instants
// a range starts and ends at, and how many buckets it may hold (for the limit messages).
import type { Granularity } from "../gql/schema";

export interface CivilDate {
  year: number;
  month: number; // 1-12
  day: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let found = formatters.get(timeZone);
  if (found === undefined) {
    found = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, found);
  }
  return found;
}

/** True when the browser knows the zone. */
export function knownZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock reading of `instant` (ms) in the zone. */
function wall(instant: number, timeZone: string): CivilDate & { hour: number; minute: number; second: number } {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(instant))) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year ?? 1970,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  };
}

/** The zone's offset from UTC at `instant`, in ms. */
function offset(instant: number, timeZone: string): number {
  const w = wall(instant, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/** The instant (ms) local midnight of `date` is in the zone (the first moment of the day when
 * a DST change skips midnight). */
export function midnight(date: CivilDate, timeZone: string): number {
  const guess = Date.UTC(date.year, date.month - 1, date.day);
  let instant = guess - offset(guess, timeZone);
  const second = guess - offset(instant, timeZone);
  if (second !== instant) instant = Math.min(instant, second);
  const w = wall(instant, timeZone);
  if (w.day !== date.day) instant += 3_600_000; // midnight does not exist that day
  return instant;
}

export function today(timeZone: string, now: number = Date.now()): CivilDate {
  const w = wall(now, timeZone);
  return { year: w.year, month: w.month, day: w.day };
}

export function addDays(date: CivilDate, days: number): CivilDate {
  const shifted = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate() };
}

export function addMonths(date: CivilDate, months: number): CivilDate {
  const shifted = new Date(Date.UTC(date.year, date.month - 1 + months, 1));
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: 1 };
}

export function parseDate(text: string | null | undefined): CivilDate | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text ?? "");
  if (match === null) return null;
  const date = { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) };
  const check = addDays(date, 0);
  return check.year === date.year && check.month === date.month && check.day === date.day ? date : null;
}

export function formatDate(date: CivilDate): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(date.year, 4)}-${pad(date.month)}-${pad(date.day)}`;
}

/** The date `instant` falls on in the zone. */
export function dateOf(instant: number, timeZone: string): CivilDate {
  return today(timeZone, instant);
}

const HOURS: Record<Granularity, number> = {
  HOUR: 1,
  DAY: 24,
  WEEK: 24 * 7,
  MONTH: 24 * 28,
  QUARTER: 24 * 89,
  YEAR: 24 * 365,
};

/** At most how many buckets of `granularity` [from, to) can touch (edges included). */
export function mostBuckets(from: number, to: number, granularity: Granularity): number {
  const hours = Math.max(0, to - from) / 3_600_000;
  return Math.ceil(hours / HOURS[granularity]) + 1;
}

/** A bucket's start as people read it in the zone, at the granularity's precision. */
export function bucketLabel(start: string, granularity: Granularity, timeZone: string): string {
  const options: Intl.DateTimeFormatOptions =
    granularity === "HOUR"
      ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
      : granularity === "MONTH" || granularity === "QUARTER"
        ? { year: "numeric", month: "short" }
        : granularity === "YEAR"
          ? { year: "numeric" }
          : { year: "numeric", month: "short", day: "numeric" };
  const label = new Intl.DateTimeFormat("en-US", { ...options, timeZone }).format(new Date(start));
  return granularity === "WEEK" ? `week of ${label}` : label;
}

/** An instant as people read it in the zone, to the minute. */
export function instantLabel(instant: string, timeZone: string): string {
  return new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(new Date(instant));
}
