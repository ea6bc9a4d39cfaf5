// GraphiQL with usageql's key prompt: every query needs a key (the schema's too), so GraphiQL
// starts only once the server has accepted one, and a key the server stops accepting brings the
// prompt back.
import "graphiql/graphiql.css";
import "@graphiql/plugin-explorer/dist/style.css";
import "./page.css";

import { explorerPlugin } from "@graphiql/plugin-explorer";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import { createRoot } from "react-dom/client";

import { pageConfig } from "../shared/config";
import { GRAPHQL_PATH, INGEST_KEY, keyId, refusal, storeKey, storedKey } from "../shared/key";

const config = pageConfig(document);
const FIRST_QUERY = `# usageql: GraphQL analytics over LLM usage.
# Run with Ctrl-Enter or the play button.
# Docs and Explorer (left) list every field.
${config.firstQuery}
`;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

const parameters = new URLSearchParams(window.location.search);
const keyPrompt = element("key-prompt");
const input = element<HTMLInputElement>("key-input");
const problem = element("key-error");
const note = element("key-note");
const bar = element("key-bar");
const container = element("graphiql");
const keep = element<HTMLButtonElement>("keep-key");
const root = createRoot(container);
const explorer = explorerPlugin();

interface Current {
  key: string;
  role: string;
}
let current: Current | null = null; // the key GraphiQL runs with, and its role

function remember(name: string, value: string | undefined): void {
  if (value) parameters.set(name, value);
  else parameters.delete(name);
  history.replaceState(null, "", `?${parameters.toString()}`);
}

function show(target: HTMLElement, message: string): void {
  target.textContent = message;
  target.hidden = !message;
}

/** The prompt, with what went wrong if anything did (or, as `news`, what was done); GraphiQL
 * is taken down meanwhile, and comes back only with a key that works. */
function ask(message: string, key = "", news = ""): void {
  keep.hidden = current === null;
  root.render(null);
  container.hidden = true;
  bar.hidden = true;
  show(problem, message);
  show(note, news);
  input.value = key;
  keyPrompt.hidden = false;
  input.focus();
}

function drop(key: string): void {
  if (storedKey() === key) storeKey(null); // not the key in use, when another was tried
}

/** Asks the server who the key is before GraphiQL starts, so a wrong key is named here. */
async function check(key: string): Promise<void> {
  let response: Response;
  let body: unknown;
  try {
    response = await fetch(GRAPHQL_PATH, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: "{ viewer { role } }" }),
    });
    body = await response.json().catch(() => null);
  } catch (error) {
    ask(`The server did not answer (${(error as Error).message}). Try again when it is up.`, key);
    return;
  }
  if (response.status === 401) {
    drop(key);
    ask(`That key was refused: ${refusal(body, 401)}. Paste a valid key.`);
    return;
  }
  const role = (body as { data?: { viewer?: { role?: string } } } | null)?.data?.viewer?.role;
  if (!response.ok || !role) {
    ask(`The key could not be checked: ${refusal(body, response.status)}.`, key);
    return;
  }
  if (role === "ingest") {
    drop(key);
    ask(INGEST_KEY);
    return;
  }
  storeKey(key);
  start(key, role);
}

function start(key: string | null, role: string | null): void {
  current = key && role ? { key, role } : null;
  keyPrompt.hidden = true;
  if (key) {
    element("key-status").textContent =
      `Using API key ${keyId(key)}… (${role}), sent with every request.`;
    bar.hidden = false;
  }
  container.hidden = false;
  const fetcher = createGraphiQLFetcher({
    url: GRAPHQL_PATH,
    headers: key ? { authorization: `Bearer ${key}` } : {},
    // A key revoked while the page is open brings the prompt back.
    fetch: async (url: RequestInfo | URL, init?: RequestInit) => {
      const response = await window.fetch(url, init);
      if (response.status === 401 && key) {
        const body: unknown = await response.clone().json().catch(() => null);
        storeKey(null);
        current = null;
        ask(`The server no longer accepts this key: ${refusal(body, 401)}.`);
      }
      return response;
    },
  });
  root.render(
    <GraphiQL
      key={key ?? "no-key"} // a new key mounts a new GraphiQL, which fetches the schema again
      fetcher={fetcher}
      plugins={[explorer]}
      defaultQuery={FIRST_QUERY}
      query={parameters.get("q") ?? undefined}
      variables={parameters.get("variables") ?? undefined}
      onEditQuery={(value) => remember("q", value)}
      onEditVariables={(value) => remember("variables", value)}
      defaultEditorToolsVisibility={true}
      isHeadersEditorEnabled={true}
      shouldPersistHeaders={false} // the key is sent for you; never keep a copy in Headers
    />,
  );
}

element("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = input.value.trim();
  if (key) void check(key);
});
element("change-key").addEventListener("click", () => ask(""));
keep.addEventListener("click", () => {
  if (current !== null) start(current.key, current.role);
});
element("forget-key").addEventListener("click", () => {
  storeKey(null);
  current = null;
  ask("", "", "The key was removed from this browser.");
});

const remembered = storedKey();
if (!config.auth) start(null, null);
else if (remembered) void check(remembered);
else ask("");
