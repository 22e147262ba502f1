import type { SubgraphContext } from '@paygraph/server';
import type { SessionDeps } from './sessions';

/** Per-request context of the auth subgraph. */
export interface Context extends SubgraphContext {
  sessions: SessionDeps;
}
