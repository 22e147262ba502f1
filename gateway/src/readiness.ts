/** Readiness: every subgraph of the service list answers a trivial query within a bound. */
export const READINESS_TIMEOUT_MS = 2_000;

export interface Readiness {
  ready: boolean;
  subgraphs: Record<string, 'up' | 'down'>;
  missing: string[];
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
      signal: AbortSignal.timeout(READINESS_TIMEOUT_MS),
    });
    if (!response.ok) return false;
    const body = (await response.json()) as { data?: { __typename?: string } };
    return body.data?.__typename === 'Query';
  } catch {
    return false;
  }
}

export async function checkReadiness(subgraphs: ReadonlyArray<{ name: string; url: string }>): Promise<Readiness> {
  const results = await Promise.all(subgraphs.map(async (subgraph) => [subgraph.name, await answers(subgraph.url)] as const));
  const missing = results.filter(([, up]) => !up).map(([name]) => name);
  return {
    ready: missing.length === 0,
    subgraphs: Object.fromEntries(results.map(([name, up]) => [name, up ? 'up' : 'down'])),
    missing,
  };
}
