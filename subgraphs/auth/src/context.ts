import type { AuditRecorder } from '@paygraph/audit';
import type { SubgraphContext } from '@paygraph/server';
import type { SessionDeps } from './sessions';

/** Per-request context of the auth subgraph. */
export interface Context extends SubgraphContext {
  sessions: SessionDeps;
  /** Logins, failed logins and token family revocations go to the audit trail (packages/audit). */
  audit: AuditRecorder;
}
