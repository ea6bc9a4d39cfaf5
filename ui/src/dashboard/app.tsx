// The dashboard: the view in the URL decides one GraphQL request for the whole page (every
// panel's fragment, composed panels as more fields), sent with the key the user entered; each
// panel shows its part of the answer.
import { useCallback, useEffect, useMemo, useState } from "react";

import type { PageFrameFragment } from "../gql/graphql";
import type { PageConfig } from "../shared/config";
import { INGEST_KEY, keyId, storeKey, storedKey } from "../shared/key";
import { type Answer, type GraphQLError, post, Refused } from "./api";
import type { Table } from "./csv";
import { type CustomPanel, panelField, panelRows } from "./custom";
import { PanelEditor } from "./editor";
import { Frame, type PanelState } from "./frame";
import { Chips, Controls, type Suggestions } from "./header";
import { KeyPrompt } from "./keyprompt";
import { PANELS } from "./panels";
import { type CustomData, CustomView, customIsEmpty, customRows } from "./panels/custom";
import type { PanelContext, PanelDefinition } from "./panels/types";
import { compose, variablesOf } from "./query";
import {
  drilled,
  effectiveSpan,
  type Narrowing,
  narrowed,
  pageFilter,
  pageGranularity,
  parseView,
  serializeView,
  type ViewState,
} from "./state";
import { dateOf, midnight, mostBuckets } from "./time";

type Usage = Record<string, unknown>;
type PageData = PageFrameFragment & { usage: Usage };

const customAlias = (index: number) => `custom${index}`;

interface Request {
  query: string;
  variables: Record<string, unknown>;
  buckets: number;
}

/** The page's one request for a view. */
export function pageRequest(view: ViewState, now: number = Date.now()): Request {
  const granularity = pageGranularity(view);
  const span = effectiveSpan(view, now);
  const zone = view.timezone;
  let lastDay: string | null = null;
  try {
    lastDay = new Date(midnight(dateOf(span.to - 1, zone), zone)).toISOString();
  } catch {
    lastDay = null; // a zone this browser does not know: the server says what is wrong with it
  }
  const variables: Record<string, unknown> = {
    filter: pageFilter(view, now),
    timezone: zone,
    granularity,
    lastDay,
  };
  for (const panel of PANELS) Object.assign(variables, panel.variables?.(view));
  const fields = view.panels.map((panel, i) => panelField(customAlias(i), panel));
  const query = compose({ name: "Dashboard", fragments: PANELS.map((p) => p.fragment), fields, frame: true });
  return { query, variables, buckets: mostBuckets(span.from, span.to, granularity) };
}

/** One panel's query alone (to show, to open in GraphiQL, to page its table). */
function aloneRequest(fragment: { toString(): string } | null, field: string | null, all: Record<string, unknown>, name: string) {
  const query = compose({ name, fragments: fragment ? [fragment] : [], fields: field ? [field] : [] });
  return { query, variables: variablesOf(query, all) };
}

function operationName(title: string): string {
  const words = title.replace(/[^A-Za-z0-9 ]/g, " ").split(/\s+/).filter(Boolean);
  return words.map((w) => w[0]?.toUpperCase() + w.slice(1)).join("") || "Panel";
}

const LIMIT_ERROR = /rows, more than the limit|maximum operation depth|aliases found|token/i;

function isLimitError(error: GraphQLError): boolean {
  return error.extensions?.code === "QUERY_TOO_EXPENSIVE" || LIMIT_ERROR.test(error.message);
}

interface Outcome {
  answer: Answer<PageData> | null;
  request: string; // the request the answer is for
}

export function App({ config }: { config: PageConfig }) {
  const [search, setSearch] = useState(window.location.search);
  const view = useMemo(() => parseView(search), [search]);
  const [key, setKey] = useState<string | null>(config.auth ? storedKey() : null);
  const [accepted, setAccepted] = useState<string | null>(null); // the key that last worked
  const [prompt, setPrompt] = useState<{ error: string | null; note: string | null } | null>(
    config.auth && !storedKey() ? { error: null, note: null } : null,
  );
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [loading, setLoading] = useState<string | null>(null);
  const [failure, setFailure] = useState<{ message: string; retry: boolean } | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [composing, setComposing] = useState(false);

  // The URL always holds the whole view (the time zone included), so it can be shared as is.
  useEffect(() => {
    const canonical = serializeView(view);
    if (canonical !== window.location.search) {
      history.replaceState(null, "", canonical);
      setSearch(canonical);
    }
  }, [view]);
  useEffect(() => {
    const onPop = () => setSearch(window.location.search);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  const change = useCallback((next: ViewState) => {
    const target = serializeView(next);
    if (target === window.location.search) return;
    history.pushState(null, "", target);
    setSearch(target);
  }, []);

  const request = useMemo(() => pageRequest(view), [view]);
  const requestKey = JSON.stringify([request.query, request.variables]);
  const waiting = config.auth && (key === null || prompt !== null);
  const settled = serializeView(view) === search; // else the URL is about to be made whole

  useEffect(() => {
    if (waiting || !settled) return undefined;
    const controller = new AbortController();
    setLoading(requestKey);
    setFailure(null);
    post<PageData>(request.query, request.variables, key, controller.signal)
      .then((answer) => {
        const forbidden = answer.errors.find((e) => e.extensions?.code === "FORBIDDEN");
        if (forbidden && config.auth) {
          if (storedKey() === key) storeKey(null);
          setKey(accepted);
          setPrompt({ error: INGEST_KEY, note: null });
          return;
        }
        if (key) storeKey(key);
        setAccepted(key);
        setOutcome({ answer, request: requestKey });
      })
      .catch((error: unknown) => {
        if ((error as Error).name === "AbortError") return;
        if (error instanceof Refused && error.status === 401) {
          if (storedKey() === key) storeKey(null);
          const wasWorking = key !== null && key === accepted;
          setKey(null);
          setAccepted(null);
          setOutcome(null);
          setPrompt({
            error: wasWorking
              ? `The server no longer accepts this key: ${error.message}.`
              : `That key was refused: ${error.message}. Paste a valid key.`,
            note: null,
          });
          return;
        }
        const retry = error instanceof Refused && error.retryAfter !== null;
        setFailure({ message: (error as Error).message, retry });
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(null);
      });
    return () => controller.abort();
  }, [requestKey, key, waiting, settled, attempt]);

  const answer = outcome?.answer ?? null;
  const data = answer?.data ?? null;
  const usage: Usage | null = data?.usage ?? null;
  const errors = answer?.errors ?? [];
  const updating = loading !== null;

  const suggestions: Suggestions = useMemo(() => {
    const u = usage as { topModels?: { model: string }[]; topUsers?: { edges: { node: { user: { id: string } } }[] }; topTags?: { tag: string }[] } | null;
    return {
      apps: data?.appList.map((a) => a.id) ?? [],
      models: u?.topModels?.map((m) => m.model) ?? [],
      users: u?.topUsers?.edges.map((e) => e.node.user.id) ?? [],
      tags: u?.topTags?.map((t) => t.tag) ?? [],
    };
  }, [data, usage]);

  // Errors are the panel's whose field they name; others (and limits) are the page's.
  const owner = (error: GraphQLError): string | null => {
    const field = error.path?.[0] === "usage" ? String(error.path[1] ?? "") : "";
    const panel = PANELS.find((p) => p.fields.includes(field));
    if (panel) return panel.id;
    const custom = view.panels.findIndex((_, i) => customAlias(i) === field);
    return custom >= 0 ? customAlias(custom) : null;
  };
  const panelError = (id: string): string | null => {
    const error = errors.find((e) => owner(e) === id);
    if (!error) return null;
    const where = error.path ? ` (at ${error.path.join(".")})` : "";
    return `The server could not answer this panel: ${error.message}${where}`;
  };
  const pageErrors = errors.filter((e) => owner(e) === null);
  const limitHelp = (): string | null => {
    const limit = pageErrors.find(isLimitError);
    if (!limit) return null;
    const costs = view.panels.map((panel, i) => ({ panel, i, rows: panelRows(panel, request.buckets) }));
    const worst = costs.sort((a, b) => b.rows - a.rows)[0];
    const remedy = worst
      ? `Remove the panel “${worst.panel.title}” (it asks for up to ${worst.rows.toLocaleString("en-US")} rows), or choose a shorter range or a coarser granularity.`
      : "Choose a shorter range or a coarser granularity.";
    return `This page asks for more than the server allows: ${limit.message}. ${remedy}`;
  };

  const narrow = useCallback((name: Narrowing, value: string) => change(narrowed(view, name, value)), [change, view]);
  const drill = useCallback((start: string, end: string) => change(drilled(view, start, end)), [change, view]);

  const state = (id: string, isEmpty: () => boolean, empty: string): PanelState => {
    const own = panelError(id);
    if (own) return { kind: "error", message: own };
    if (usage === null) {
      if (answer === null) return { kind: "loading" };
      const culprits = errors.map(owner).flatMap((o) => {
        const title = PANELS.find((p) => p.id === o)?.title ?? view.panels.find((_, i) => customAlias(i) === o)?.title;
        return title ? [title] : [];
      });
      const because = culprits.length
        ? `the panel “${culprits[0]}” failed, and with it the page's one request (its message says why)`
        : "the page's request failed (the message at the top says why)";
      return { kind: "error", message: `No answer for this panel: ${because}.` };
    }
    if (isEmpty()) return { kind: "empty", message: empty };
    return { kind: "data", updating };
  };

  const [shownRows, setShownRows] = useState<Record<string, Table | null>>({});

  const panelContext = (id: string, fetchAlone: PanelContext["fetchAlone"]): PanelContext => ({
    view,
    granularity: pageGranularity(view),
    timezone: view.timezone,
    narrow,
    drill,
    change,
    fetchAlone,
    showing: (rows) => setShownRows((all) => (all[id] === rows ? all : { ...all, [id]: rows })),
  });

  const fetchAloneFor = (query: string, base: Record<string, unknown>) => async (more: Record<string, unknown>) => {
    const result = await post<{ usage: Usage }>(query, { ...base, ...more }, key);
    if (result.errors.length || !result.data) throw new Error(result.errors[0]?.message ?? "no answer");
    return result.data.usage;
  };

  if (prompt !== null) {
    return (
      <KeyPrompt
        error={prompt.error}
        note={prompt.note}
        canKeep={accepted !== null}
        onKey={(entered) => {
          setKey(entered);
          setPrompt(null);
        }}
        onKeep={() => {
          setKey(accepted);
          setPrompt(null);
        }}
      />
    );
  }

  const limit = limitHelp();
  const otherErrors = pageErrors.filter((e) => !isLimitError(e));
  const role = data?.viewer.role;
  const bound = [
    data?.viewer.apps ? `apps ${data.viewer.apps.join(", ")}` : null,
    data?.viewer.users ? `users ${data.viewer.users.join(", ")}` : null,
  ].filter(Boolean);

  return (
    <div className="page">
      <header className="top">
        <div className="brand">
          <span className="logo" aria-hidden="true" />
          <span>usageql</span>
          <span className="muted">Dashboard</span>
        </div>
        <nav className="top-links" aria-label="usageql">
          {config.graphiql && <a href="/graphql">GraphiQL</a>}
          {key && (
            <span className="key-status">
              Using API key {keyId(key)}…{role ? ` (${role}${bound.length ? `, bound to ${bound.join("; ")}` : ""})` : ""}
            </span>
          )}
          {config.auth && (
            <>
              <button type="button" onClick={() => setPrompt({ error: null, note: null })}>
                Change key
              </button>
              <button
                type="button"
                onClick={() => {
                  storeKey(null);
                  setKey(null);
                  setAccepted(null);
                  setOutcome(null);
                  setPrompt({ error: null, note: "The key was removed from this browser." });
                }}
              >
                Forget key
              </button>
            </>
          )}
        </nav>
      </header>
      <Controls view={view} suggestions={suggestions} onChange={change} onCompose={() => setComposing(true)} />
      <Chips view={view} onChange={change} />
      <p className="status" role="status" aria-live="polite">
        {updating ? "Updating…" : answer ? `Updated${answer.cost !== null ? `: ${answer.cost.toLocaleString("en-US")} rows at most, of ${answer.limit?.toLocaleString("en-US")} allowed` : ""}` : ""}
      </p>
      {failure && (
        <div role="alert" className="banner error">
          {failure.message}{" "}
          <button type="button" onClick={() => setAttempt(attempt + 1)}>
            Try again
          </button>
        </div>
      )}
      {limit && (
        <div role="alert" className="banner error">
          {limit}
        </div>
      )}
      {otherErrors.map((error) => (
        <div role="alert" className="banner error" key={error.message}>
          The server could not answer this view: {error.message}
          {error.path ? ` (at ${error.path.join(".")})` : ""}
        </div>
      ))}
      {composing && (
        <PanelEditor
          onCancel={() => setComposing(false)}
          onAdd={(panel: CustomPanel) => {
            setComposing(false);
            change({ ...view, panels: [...view.panels, panel] });
          }}
        />
      )}
      <main className="grid">
        {PANELS.map((panel: PanelDefinition<unknown>) => {
          const alone = aloneRequest(panel.fragment, null, request.variables, operationName(panel.title));
          const context = panelContext(panel.id, fetchAloneFor(alone.query, alone.variables));
          const panelState = state(panel.id, () => panel.isEmpty(usage), panel.empty);
          return (
            <Frame
              key={panel.id}
              title={panel.title}
              wide={panel.wide}
              chart={panel.chart}
              query={alone.query}
              variables={alone.variables}
              graphiql={config.graphiql}
              state={panelState}
              rows={() => shownRows[panel.id] ?? panel.rows(usage, context)}
              allRows={panel.allRows ? () => panel.allRows?.(context.fetchAlone, context) ?? Promise.reject(new Error("no rows")) : undefined}
            >
              {(showTable) => panel.render({ data: usage, context, showTable })}
            </Frame>
          );
        })}
        {view.panels.map((custom, i) => {
          const alias = customAlias(i);
          const alone = aloneRequest(null, panelField(alias, custom), request.variables, operationName(custom.title));
          const context = panelContext(alias, fetchAloneFor(alone.query, alone.variables));
          const field = (usage?.[alias] ?? []) as CustomData;
          return (
            <Frame
              key={`${alias}-${custom.title}`}
              title={custom.title}
              wide={custom.chart === "pivot"}
              chart={custom.chart === "line" || custom.chart === "bar"}
              query={alone.query}
              variables={alone.variables}
              graphiql={config.graphiql}
              state={state(alias, () => customIsEmpty(custom, field), "Nothing to show in this range and filter.")}
              rows={() => customRows(custom, field)}
              onRemove={() => change({ ...view, panels: view.panels.filter((_, j) => j !== i) })}
            >
              {(showTable) => <CustomView panel={custom} data={field} context={context} showTable={showTable} />}
            </Frame>
          );
        })}
      </main>
      <footer className="foot">
        <a href="/static/licenses.txt">Third-party licences</a>
      </footer>
    </div>
  );
}
