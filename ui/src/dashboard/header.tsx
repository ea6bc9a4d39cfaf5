// The page's controls: range, time zone, granularity, app, and filters for model, user and tag;
// the narrowings in force as removable chips.
import { type FormEvent, type ReactElement, cloneElement, useId, useMemo, useState } from "react";

import {
  GRANULARITIES,
  NARROWING_LABELS,
  NARROWINGS,
  type Narrowing,
  type PageGranularity,
  RANGES,
  type RangeName,
  type ViewState,
  narrowed,
  pageGranularity,
  rangeSpan,
  undrilled,
  widened,
} from "./state";
import { bucketLabel, formatDate } from "./time";

const GRANULARITY_LABELS: Record<PageGranularity, string> = { HOUR: "Hour", DAY: "Day", WEEK: "Week", MONTH: "Month" };

function zones(current: string): string[] {
  let all: string[] = [];
  try {
    all = Intl.supportedValuesOf("timeZone");
  } catch {
    all = [];
  }
  return [...new Set(["UTC", current, ...all])].sort();
}

/** A control and its label, tied by id (so the control's name is the label's text alone). */
function Field({ label, children }: { label: string; children: ReactElement<{ id?: string }> }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {cloneElement(children, { id })}
    </div>
  );
}

export interface Suggestions {
  apps: string[];
  models: string[];
  users: string[];
  tags: string[];
}

function FilterInput({ name, suggestions, onAdd }: { name: Exclude<Narrowing, "apps">; suggestions: string[]; onAdd: (value: string) => void }) {
  const [value, setValue] = useState("");
  const label = NARROWING_LABELS[name];
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (value.trim()) onAdd(value.trim());
    setValue("");
  };
  return (
    <form className="filter" onSubmit={submit} aria-label={`Filter by ${label}`}>
      <input
        aria-label={`Add a ${label} filter`}
        placeholder={`${label}…`}
        list={`suggest-${name}`}
        value={value}
        onChange={(event) => setValue(event.target.value)}
      />
      <datalist id={`suggest-${name}`}>
        {suggestions.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
    </form>
  );
}

export function Controls(props: { view: ViewState; suggestions: Suggestions; onChange: (next: ViewState) => void; onCompose: () => void }) {
  const { view, suggestions, onChange, onCompose } = props;
  const zoneList = useMemo(() => zones(view.timezone), [view.timezone]);
  const span = rangeSpan(view);
  const setRange = (range: RangeName) => {
    const next: ViewState = { ...view, range, granularity: null, bucket: null };
    if (range === "custom") Object.assign(next, { from: formatDate(span.first), to: formatDate(span.last) });
    onChange(next);
  };
  return (
    <div className="controls">
      <Field label="Range">
        <select value={view.range} onChange={(event) => setRange(event.target.value as RangeName)}>
          {Object.entries(RANGES).map(([name, label]) => (
            <option key={name} value={name}>
              {label}
            </option>
          ))}
        </select>
      </Field>
      {view.range === "custom" && (
        <>
          <Field label="From">
            <input type="date" value={view.from ?? formatDate(span.first)} onChange={(e) => e.target.value && onChange({ ...view, from: e.target.value, bucket: null })} />
          </Field>
          <Field label="To">
            <input type="date" value={view.to ?? formatDate(span.last)} onChange={(e) => e.target.value && onChange({ ...view, to: e.target.value, bucket: null })} />
          </Field>
        </>
      )}
      <Field label="Time zone">
        <select value={view.timezone} onChange={(event) => onChange({ ...view, timezone: event.target.value, bucket: null })}>
          {zoneList.map((zone) => (
            <option key={zone} value={zone}>
              {zone}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Granularity">
        <select value={pageGranularity(view)} onChange={(event) => onChange({ ...view, granularity: event.target.value as PageGranularity })}>
          {GRANULARITIES.map((g) => (
            <option key={g} value={g}>
              {GRANULARITY_LABELS[g]}
            </option>
          ))}
        </select>
      </Field>
      <Field label="App">
        <select value={view.apps[0] ?? ""} onChange={(event) => onChange({ ...view, apps: event.target.value ? [event.target.value] : [] })}>
          <option value="">All apps</option>
          {[...new Set([...suggestions.apps, ...view.apps])].map((app) => (
            <option key={app} value={app}>
              {app}
            </option>
          ))}
        </select>
      </Field>
      <FilterInput name="models" suggestions={suggestions.models} onAdd={(v) => onChange(narrowed(view, "models", v))} />
      <FilterInput name="users" suggestions={suggestions.users} onAdd={(v) => onChange(narrowed(view, "users", v))} />
      <FilterInput name="tags" suggestions={suggestions.tags} onAdd={(v) => onChange(narrowed(view, "tags", v))} />
      <button type="button" className="primary" onClick={onCompose}>
        Add panel
      </button>
    </div>
  );
}

export function Chips(props: { view: ViewState; onChange: (next: ViewState) => void }) {
  const { view, onChange } = props;
  const chips: { label: string; remove: () => void }[] = [];
  for (const name of NARROWINGS) {
    for (const value of view[name]) {
      chips.push({ label: `${NARROWING_LABELS[name]}: ${value}`, remove: () => onChange(widened(view, name, value)) });
    }
  }
  if (view.bucket) {
    const label = bucketLabel(view.bucket.start, view.bucket.granularity, view.timezone);
    chips.push({ label: `period: ${label}`, remove: () => onChange(undrilled(view)) });
  }
  if (chips.length === 0) return null;
  return (
    <ul className="chips" aria-label="Narrowed to">
      {chips.map((chip) => (
        <li key={chip.label}>
          <span>{chip.label}</span>
          <button type="button" aria-label={`Remove ${chip.label}`} title="Remove" onClick={chip.remove}>
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}
