// The API key a browser remembers: both pages (the dashboard and GraphiQL) keep it under the same
// name, so a key entered in one works in the other.

export const STORAGE_KEY = "usageql:api-key";
export const GRAPHQL_PATH = "/graphql";

export function storedKey(): string | null {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage blocked: the key lasts as long as the page
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key) window.localStorage.setItem(STORAGE_KEY, key);
    else window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    /* storage blocked: the key lasts as long as the page */
  }
}

/** The public part of a key, `uq_<12 chars>`, which the pages show. */
export function keyId(key: string): string {
  return key.split("_").slice(0, 2).join("_");
}

interface ErrorBody {
  errors?: { message?: string }[];
}

/** What the server found wrong, without its advice on roles: the key forms give that. */
export function refusal(body: unknown, status: number): string {
  const error = (body as ErrorBody | null)?.errors?.[0];
  return error?.message ? (error.message.split("; ")[0] ?? error.message) : `the server answered ${status}`;
}

export const INGEST_KEY =
  "That is an ingest key: it may send usage but not query it. Paste a reader or admin key.";
