// The page's one request: every panel's fragment spread into one `usage(filter:, timezone:)`,
// composed panels as more fields beside them, and the variables they use. A panel's query on its
// own (to show, to open in GraphiQL, to page one table) is composed the same way.
import { graphql } from "../gql";

export const PageFrame = graphql(`
  fragment PageFrame on Query {
    viewer {
      role
      apps
      users
      keyId
    }
    appList: apps {
      id
    }
  }
`);

/** Every variable a panel may use, and its type. */
export const VARIABLE_TYPES: Record<string, string> = {
  filter: "UsageFilter",
  timezone: "String!",
  granularity: "Granularity!",
  lastDay: "DateTime",
  usersFirst: "Int!",
  usersAfter: "String",
  usersOrder: "MetricOrder",
  chatsFirst: "Int!",
  chatsAfter: "String",
};

export interface Composition {
  name: string;
  fragments: readonly { toString(): string }[]; // fragments on Usage
  fields?: readonly string[]; // more fields of usage (composed panels)
  frame?: boolean; // the viewer and the app list, at the root
}

function fragmentName(text: string): string {
  const match = /fragment\s+(\w+)\s+on\s+/.exec(text);
  if (match?.[1] === undefined) throw new Error(`not a fragment: ${text.slice(0, 60)}`);
  return match[1];
}

/** The variables a document uses, in the order they first appear. */
export function usedVariables(text: string): string[] {
  return [...new Set([...text.matchAll(/\$(\w+)/g)].map((match) => match[1] ?? ""))];
}

export function compose({ name, fragments, fields = [], frame = false }: Composition): string {
  const texts = fragments.map((fragment) => fragment.toString().trim());
  if (frame) texts.unshift(PageFrame.toString().trim());
  const spreads = texts.filter((t) => !t.includes(" on Query")).map((t) => `...${fragmentName(t)}`);
  const usage = [...spreads, ...fields].map((line) => `    ${line}`).join("\n");
  const body = [
    frame ? `  ...${fragmentName(PageFrame.toString())}` : "",
    `  usage(filter: $filter, timezone: $timezone) {\n${usage}\n  }`,
  ].filter(Boolean);
  const draft = `${body.join("\n")}\n}\n\n${texts.join("\n\n")}\n`;
  const declarations = usedVariables(`$filter $timezone ${draft}`).map((variable) => {
    const type = VARIABLE_TYPES[variable];
    if (type === undefined) throw new Error(`the variable $${variable} has no declared type`);
    return `$${variable}: ${type}`;
  });
  return `query ${name}(${declarations.join(", ")}) {\n${draft}`;
}

/** Only the variables `query` declares, from `all`. */
export function variablesOf(query: string, all: Record<string, unknown>): Record<string, unknown> {
  const header = query.slice(0, query.indexOf("{"));
  return Object.fromEntries(usedVariables(header).filter((n) => n in all).map((n) => [n, all[n]]));
}

/** GraphiQL with the query and its variables in the editors. */
export function graphiqlLink(query: string, variables: Record<string, unknown>): string {
  const parameters = new URLSearchParams({ q: query, variables: JSON.stringify(variables, null, 2) });
  return `/graphql?${parameters.toString()}`;
}
