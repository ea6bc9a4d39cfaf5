// One POST to /graphql, and what its answer means for the page.
import { GRAPHQL_PATH, refusal } from "../shared/key";

export interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

export interface Answer<T> {
  data: T | null;
  errors: GraphQLError[];
  cost: number | null;
  limit: number | null;
}

/** Why a request got no answer to show: a key refused (401), a retry to make later (429,
 * 503), or no answer at all. */
export class Refused extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

interface Body<T> {
  data?: T | null;
  errors?: GraphQLError[];
  extensions?: { cost?: { rows?: number; limit?: number } };
}

export async function post<T>(
  query: string,
  variables: Record<string, unknown>,
  key: string | null,
  signal?: AbortSignal,
): Promise<Answer<T>> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  let response: Response;
  try {
    response = await fetch(GRAPHQL_PATH, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
      signal: signal ?? null,
    });
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new Refused(`The server did not answer (${(error as Error).message}).`, 0);
  }
  const body = (await response.json().catch(() => null)) as Body<T> | null;
  if (response.status === 401) throw new Refused(refusal(body, 401), 401);
  if (response.status === 429 || response.status === 503) {
    const retry = Number(response.headers.get("retry-after")) || null;
    throw new Refused(refusal(body, response.status), response.status, retry);
  }
  if (body === null || (!response.ok && !body.errors)) {
    throw new Refused(`the server answered ${response.status}`, response.status);
  }
  return {
    data: body.data ?? null,
    errors: body.errors ?? [],
    cost: body.extensions?.cost?.rows ?? null,
    limit: body.extensions?.cost?.limit ?? null,
  };
}
