/**
 * A subgraph's `/ready`: 200 when its database answers `select 1` within a bound and its other
 * checks (an event consumer's transport) pass, 503 with a small JSON body saying what is down.
 * `/health` stays 200 while the process runs: an orchestrator restarts on health, routes on ready.
 */
import { DATABASE_PING_TIMEOUT_MS, pingServiceDatabase } from '@paygraph/db';

/** A check that takes longer than this counts as down. */
export const READINESS_CHECK_TIMEOUT_MS = DATABASE_PING_TIMEOUT_MS;

/** Extra checks by name, e.g. `{ events: () => transport.ready() }` for an event consumer. */
export type ReadinessChecks = Record<string, () => Promise<boolean>>;

export interface SubgraphReadiness {
  ready: boolean;
  body: { status: 'ready' | 'unavailable'; service: string; checks: Record<string, 'up' | 'down'> };
}

async function withinBound(check: () => Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), READINESS_CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().catch(() => false), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export async function subgraphReadiness(service: string, extra: ReadinessChecks = {}): Promise<SubgraphReadiness> {
  const [database, ...others] = await Promise.all([
    pingServiceDatabase(service, READINESS_CHECK_TIMEOUT_MS),
    ...Object.values(extra).map((check) => withinBound(check)),
  ]);
  const checks: Record<string, 'up' | 'down'> = {};
  // A service without a database of its own (none today) is ready as far as storage goes.
  if (database !== 'none') checks.database = database;
  Object.keys(extra).forEach((name, index) => {
    checks[name] = others[index] ? 'up' : 'down';
  });
  const ready = Object.values(checks).every((state) => state === 'up');
  return { ready, body: { status: ready ? 'ready' : 'unavailable', service, checks } };
}
