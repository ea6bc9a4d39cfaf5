// The frame every panel sits in: its title, its states (loading, empty, an error naming what
// failed), and what it offers: its GraphQL query (and GraphiQL with the same variables), its rows
// as a table (for charts) and as CSV.
import { type ReactNode, useId, useState } from "react";

import { download, type Table } from "./csv";
import { graphiqlLink } from "./query";

export type PanelState =
  | { kind: "loading" }
  | { kind: "error"; message: string }
  | { kind: "empty"; message: string }
  | { kind: "data"; updating: boolean };

export interface FrameProps {
  title: string;
  wide: boolean;
  chart: boolean;
  query: string;
  variables: Record<string, unknown>;
  graphiql: boolean;
  state: PanelState;
  rows: () => Table;
  allRows?: () => Promise<Table>;
  onRemove?: () => void;
  children: (showTable: boolean) => ReactNode;
}

export function Frame(props: FrameProps) {
  const { title, wide, chart, query, variables, graphiql, state, rows, allRows, onRemove, children } = props;
  const heading = useId();
  const [showQuery, setShowQuery] = useState(false);
  const [showTable, setShowTable] = useState(false);
  const [exporting, setExporting] = useState<string | null>(null);
  const hasRows = state.kind === "data";
  const everything = async () => {
    if (!allRows) return;
    setExporting("Fetching every row…");
    try {
      download(await allRows(), title);
      setExporting(null);
    } catch (error) {
      setExporting(`The rows could not be fetched: ${(error as Error).message}`);
    }
  };
  return (
    <section className={wide ? "panel wide" : "panel"} aria-labelledby={heading} aria-busy={state.kind === "loading" || (state.kind === "data" && state.updating)}>
      <header className="panel-head">
        <h2 id={heading}>{title}</h2>
        <div className="panel-actions">
          {chart && (
            <button type="button" aria-pressed={showTable} onClick={() => setShowTable(!showTable)} disabled={!hasRows}>
              {showTable ? "Show chart" : "Show table"}
            </button>
          )}
          <button type="button" aria-expanded={showQuery} onClick={() => setShowQuery(!showQuery)}>
            Query
          </button>
          <button type="button" onClick={() => download(rows(), title)} disabled={!hasRows}>
            Download CSV
          </button>
          {allRows && (
            <button type="button" onClick={() => void everything()} disabled={!hasRows}>
              Download all rows
            </button>
          )}
          {onRemove && (
            <button type="button" onClick={onRemove} aria-label={`Remove the panel ${title}`}>
              Remove
            </button>
          )}
        </div>
      </header>
      {exporting && <p role="status" className="note">{exporting}</p>}
      {showQuery && (
        <div className="query">
          <pre aria-label={`GraphQL query of ${title}`}>{query}</pre>
          <pre aria-label={`Variables of ${title}`}>{JSON.stringify(variables, null, 2)}</pre>
          {graphiql && (
            <a href={graphiqlLink(query, variables)} target="_blank" rel="noopener">
              Open in GraphiQL
            </a>
          )}
        </div>
      )}
      <div className="panel-body">
        {state.kind === "loading" && <p className="placeholder">Loading…</p>}
        {state.kind === "error" && (
          <p role="alert" className="error">
            {state.message}
          </p>
        )}
        {state.kind === "empty" && <p className="placeholder">{state.message}</p>}
        {state.kind === "data" && children(showTable)}
      </div>
    </section>
  );
}
