// What the server tells a page when it serves it: a JSON script element it fills in (inline
// JSON is data, not script, so the pages' CSP allows it).

export interface PageConfig {
  /** False when the server runs with USAGEQL_AUTH=disabled: no key is asked for. */
  auth: boolean;
  /** Whether /graphql serves GraphiQL (USAGEQL_GRAPHIQL). */
  graphiql: boolean;
  /** The query GraphiQL opens on. */
  firstQuery: string;
}

const DEFAULTS: PageConfig = { auth: true, graphiql: true, firstQuery: "{ viewer { role } }" };

export function pageConfig(document: Document): PageConfig {
  const element = document.getElementById("usageql-config");
  if (element === null || element.textContent === null) return DEFAULTS;
  try {
    return { ...DEFAULTS, ...(JSON.parse(element.textContent) as Partial<PageConfig>) };
  } catch {
    return DEFAULTS; // the page was opened from a file, not served by usageql
  }
}
