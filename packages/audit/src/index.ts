/**
 * The audit trail's writing side, shared by the services that record security-relevant actions.
 *
 * Where it lives: one append-only table, `users.audit_events`, owned by the users subgraph, which
 * also serves `auditEvents` to admins. Users appends its own records (sign-ups, email and role
 * changes) in the same transaction as the change; auth, risk, notifications and payments send
 * theirs with `appendAuditEvents`, an internal mutation that needs a service credential with the
 * `audit:write` scope. Nothing in the API updates or deletes a record, and a database trigger
 * refuses UPDATE and DELETE on the table.
 *
 * A record that cannot be sent (users unreachable) is logged at error level with its content and
 * the action goes on: a login must not fail because the audit trail is down. That is the one
 * gap: such a record is in the server log only.
 */
import type { Logger } from '@paygraph/logging';
import { createPort, type ServiceClient } from '@paygraph/service-client';
import { AppendAuditEventsDocument } from './generated/users-operations';

export type AuditOutcome = 'SUCCESS' | 'FAILURE' | 'DENIED';

/** One security-relevant action. `type` is a stable dotted name such as `auth.login_failed`. */
export interface AuditEntry {
  type: string;
  /** Who acted: a user id, `service:<name>`, or null (an anonymous caller, e.g. a failed login). */
  actorId: string | null;
  /** What it was done to (a user, an endpoint, a blocklist entry...), when anything. */
  subjectId?: string | null;
  outcome: AuditOutcome;
  /** A few facts (no secrets, no passwords): at most AUDIT_DETAILS_LENGTH_MAX characters of JSON. */
  details?: Record<string, string | number | boolean | null>;
}

export const AUDIT_TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$/;
export const AUDIT_DETAILS_LENGTH_MAX = 2_000;
/** Records accepted in one appendAuditEvents call. */
export const AUDIT_BATCH_MAX = 20;
/** The scope a service needs to append records. */
export const AUDIT_WRITE_SCOPE = 'audit:write';


export interface AuditRecorder {
  /** Appends one record; never throws (a failure is logged, see above). */
  record(request: { requestId?: string; logger?: Logger }, entry: AuditEntry): Promise<void>;
}

/** A recorder that appends through users' `appendAuditEvents` with this service's credential. */
export function createAuditRecorder(options: { client: ServiceClient; logger: Logger }): AuditRecorder {
  return {
    async record(request, entry) {
      const event = {
        type: entry.type,
        actorId: entry.actorId,
        subjectId: entry.subjectId ?? null,
        outcome: entry.outcome,
        requestId: request.requestId ?? null,
        details: entry.details ? JSON.stringify(entry.details) : null,
      };
      try {
        // Through the port (ports/users.graphql, typed from users' schema); any refusal is logged below.
        await createPort({ client: options.client, service: 'users' }).call(AppendAuditEventsDocument, { events: [event] }, request.requestId ? { requestId: request.requestId } : {});
      } catch (error) {
        (request.logger ?? options.logger).error({ err: error, audit: event }, 'audit record could not be appended; it is in this log only');
      }
    },
  };
}

/** For tests and tools that record nothing. */
export const noAudit: AuditRecorder = { record: async () => {} };
