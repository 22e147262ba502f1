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
  /** The gateway's own event transport (subscriptions), when it has one. */
  events?: 'up' | 'down';
  /** Subgraph names that are down, and `events` when the transport is. */
  missing: string[];
}

/** What the gateway's own readiness asks of its event transport (EventTransport.ready). */
interface EventsReadiness {
  ready?(): Promise<boolean>;
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

async function eventsReady(events: EventsReadiness): Promise<boolean> {
  if (!events.ready) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), READINESS_TIMEOUT_MS);
  });
  try {
    return await Promise.race([events.ready().catch(() => false), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness(subgraphs: ReadonlyArray<{ name: string; url: string; urls?: readonly string[] }>, events?: EventsReadiness): Promise<Readiness> {
  const [results, eventsUp] = await Promise.all([
    Promise.all(subgraphs.map(async (subgraph) => [subgraph.name, await subgraphReady(subgraph)] as const)),
    events ? eventsReady(events) : Promise.resolve(null),
  ]);
  const missing = results.filter(([, up]) => !up).map(([name]) => name);
  if (eventsUp === false) missing.push('events');
  return {
    ready: missing.length === 0,
    subgraphs: Object.fromEntries(results.map(([name, up]) => [name, up ? 'up' : 'down'])),
    ...(eventsUp === null ? {} : { events: eventsUp ? 'up' : 'down' }),
    missing,
  };
}
