// Composing a panel: a chart type, dimensions (metadata keys too), metrics and how many rows.
import { type FormEvent, useState } from "react";

import { CHARTS, type Chart, type CustomPanel, MAX_LIMIT, MAX_METADATA_KEY, problem } from "./custom";
import { DIMENSION_LABELS, DIMENSIONS, METADATA_PREFIX, METRIC_NAMES, METRICS, type MetricName } from "./metrics";

export function PanelEditor(props: { onAdd: (panel: CustomPanel) => void; onCancel: () => void }) {
  const [title, setTitle] = useState("");
  const [chart, setChart] = useState<Chart>("table");
  const [by, setBy] = useState<string[]>([]);
  const [keys, setKeys] = useState("");
  const [metrics, setMetrics] = useState<MetricName[]>(["requests"]);
  const [limit, setLimit] = useState(20);
  const [error, setError] = useState<string | null>(null);

  const toggle = <T,>(list: T[], item: T) => (list.includes(item) ? list.filter((x) => x !== item) : [...list, item]);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const metadata = keys
      .split(",")
      .map((key) => key.trim())
      .filter(Boolean);
    const long = metadata.find((key) => key.length > MAX_METADATA_KEY);
    if (long) {
      setError(`A metadata key is at most ${MAX_METADATA_KEY} characters.`);
      return;
    }
    const dimensions = [...by, ...metadata.map((key) => `${METADATA_PREFIX}${key}`)];
    const auto = [CHARTS[chart], dimensions.length ? `by ${dimensions.join(", ")}` : "over time"].join(" ");
    const panel: CustomPanel = { title: title.trim() || auto, chart, by: dimensions, metrics, limit };
    const wrong = problem(panel);
    setError(wrong);
    if (wrong === null) props.onAdd(panel);
  };

  return (
    <form className="editor" aria-label="Compose a panel" onSubmit={submit}>
      <h2>Compose a panel</h2>
      <p className="muted">It becomes one more field of the page's request, and part of its link.</p>
      <div className="editor-row">
        <label>
          Title
          <input value={title} onChange={(e) => setTitle(e.target.value)} placeholder="optional" />
        </label>
        <label>
          Chart
          <select value={chart} onChange={(e) => setChart(e.target.value as Chart)}>
            {Object.entries(CHARTS).map(([name, label]) => (
              <option key={name} value={name}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Rows
          <input type="number" min={1} max={MAX_LIMIT} value={limit} onChange={(e) => setLimit(Number(e.target.value))} />
        </label>
      </div>
      <fieldset>
        <legend>Group by</legend>
        {DIMENSIONS.map((d) => (
          <label key={d} className="check">
            <input type="checkbox" checked={by.includes(d)} onChange={() => setBy(toggle(by, d))} />
            {DIMENSION_LABELS[d]}
          </label>
        ))}
        <label>
          Metadata keys
          <input value={keys} onChange={(e) => setKeys(e.target.value)} placeholder="plan, team" />
        </label>
      </fieldset>
      <fieldset>
        <legend>Metrics</legend>
        {METRIC_NAMES.map((name) => (
          <label key={name} className="check">
            <input type="checkbox" checked={metrics.includes(name)} onChange={() => setMetrics(toggle(metrics, name))} />
            {METRICS[name].label}
          </label>
        ))}
      </fieldset>
      {error && <p role="alert" className="error">{error}</p>}
      <div className="editor-row">
        <button type="submit" className="primary">
          Add the panel
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
