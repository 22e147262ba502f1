/**
 * Readiness: every subgraph of the service list says it is ready (its `GET /ready`: its database
 * answers `select 1`, an event consumer's transport is connected) within a bound. A subgraph that
 * answers GraphQL but cannot reach its database is not ready, so the gateway's /ready is 503 during
 * a database outage and 200 again after it. A subgraph run as several instances is ready when one
 * of them is (the hop goes round robin over the ones that answer).
 */
export const READINESS_TIMEOUT_MS = 2_000;

export interface Readiness {
  ready: boolean;
  subgraphs: Record<string, 'up' | 'down'>;
  missing: string[];
}

/** `http://host:port/graphql` -> `http://host:port/ready` (every subgraph serves it beside /graphql). */
export function readyUrlOf(graphqlUrl: string): string {
  return new URL('/ready', graphqlUrl).toString();
}

async function instanceReady(graphqlUrl: string): Promise<boolean> {
  try {
    const response = await fetch(readyUrlOf(graphqlUrl), { signal: AbortSignal.timeout(READINESS_TIMEOUT_MS) });
    // The body is small JSON saying what is down; read it so the connection can be reused.
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

async function subgraphReady(subgraph: { url: string; urls?: readonly string[] }): Promise<boolean> {
  const urls = subgraph.urls && subgraph.urls.length > 0 ? subgraph.urls : [subgraph.url];
  const results = await Promise.all(urls.map(instanceReady));
  return results.some(Boolean);
}

export async function checkReadiness(subgraphs: ReadonlyArray<{ name: string; url: string; urls?: readonly string[] }>): Promise<Readiness> {
  const results = await Promise.all(subgraphs.map(async (subgraph) => [subgraph.name, await subgraphReady(subgraph)] as const));
  const missing = results.filter(([, up]) => !up).map(([name]) => name);
  return {
    ready: missing.length === 0,
    subgraphs: Object.fromEntries(results.map(([name, up]) => [name, up ? 'up' : 'down'])),
    missing,
  };
}
