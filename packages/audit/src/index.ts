/**
 * The audit trail's writing side, shared by the services that record security-relevant actions.
 *
 * Where it lives: one append-only table, `users.audit_events`, owned by the users subgraph, which
 * also serves `auditEvents` to admins. Users appends its own records (sign-ups, with the role
 * chosen then, which nothing changes later; email changes) in the same transaction as the change;
 * auth, risk, notifications and payments send theirs with `appendAuditEvents`, an internal
 * mutation that needs a service credential with the `audit:write` scope. Nothing in the API
 * updates or deletes a record, and a database trigger refuses UPDATE and DELETE on the table.
 *
 * Every other service records through its own audit outbox (outbox.ts,
 * `createOutboxAuditRecorder`): the record is kept in its database and relayed to users until
 * users accepts it, so users being down loses nothing and the action goes on (a login must not
 * fail because the audit trail is down). A change and its record are written in one transaction
 * (`auditedChange`: the store calls the record's AuditInTransaction with its transaction), so a
 * crash never leaves one without the other. Recorded on their own, after the action: a refused
 * login (it changes nothing a record could commit with) and the start-up re-seal of secrets.
 */
import type { SqlRunner } from '@paygraph/db';
import type { Logger } from '@paygraph/logging';

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

/** A record id a recording service gives (newId('aud')): users stores one record per id. */
export const AUDIT_RECORD_ID_PATTERN = /^aud_[0-9a-z]{20}$/;
export const AUDIT_TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$/;
export const AUDIT_DETAILS_LENGTH_MAX = 2_000;
/** Records accepted in one appendAuditEvents call. */
export const AUDIT_BATCH_MAX = 20;
/** The scope a service needs to append records. */
export const AUDIT_WRITE_SCOPE = 'audit:write';

/** Values sealed under SERVICE_SECRET_PREVIOUS were sealed again under the current secret (a rotation's step 2). */
export const SECRET_RESEALED = 'secret.resealed';

/**
 * The record of a re-seal at start-up: the service itself acts (`service:<name>`), `purpose` names
 * what was sealed (one key per purpose), `count` how many values.
 */
export function secretResealedEntry(service: string, purpose: string, count: number, outcome: AuditOutcome = 'SUCCESS'): AuditEntry {
  return { type: SECRET_RESEALED, actorId: `service:${service}`, subjectId: purpose, outcome, details: { purpose, count } };
}

export interface AuditRecorder {
  /**
   * Appends one record; never throws (a record that cannot even be written is logged), except
   * when given the caller's transaction (`sql`): then it fails with it, as the transaction does.
   */
  record(request: { requestId?: string; logger?: Logger; sql?: SqlRunner }, entry: AuditEntry): Promise<void>;
  /**
   * Records written in a caller's transaction have committed: relay them now. (A pass started
   * from inside the transaction would run before its commit and not see them.)
   */
  committed?(): void;
}

/**
 * An action's record, written in the action's own transaction: the store that makes the change
 * calls it with its transaction once the change is made (with what the change produced, e.g. a new
 * id), so the record commits with the change or not at all; a record that cannot be written fails
 * the change. The relay sends it to users after the commit.
 */
export type AuditInTransaction<T = void> = (sql: SqlRunner, done: T) => Promise<void>;

/**
 * The AuditInTransaction of `entry` (built from what the change produced; null when that is
 * nothing to record) through `recorder`; `written` is called once the record is in the
 * transaction. The relay is not told: auditedChange does that after the commit.
 */
export function auditInTransaction<T = void>(
  recorder: AuditRecorder,
  request: { requestId?: string; logger?: Logger },
  entry: (done: T) => AuditEntry | null,
  written?: () => void,
): AuditInTransaction<T> {
  return async (sql, done) => {
    const built = entry(done);
    if (!built) return;
    await recorder.record({ requestId: request.requestId, logger: request.logger, sql }, built);
    written?.();
  };
}

/**
 * Runs `change` (a store call that makes a change in a transaction) with the AuditInTransaction
 * of `entry`, and once it has committed (resolved) with a record in it tells the relay, which
 * sends the record at once. Without a recorder the change runs unaudited.
 */
export async function auditedChange<T, R>(
  recorder: AuditRecorder | undefined,
  request: { requestId?: string; logger?: Logger },
  entry: (done: T) => AuditEntry | null,
  change: (audit: AuditInTransaction<T> | undefined) => Promise<R>,
): Promise<R> {
  if (!recorder) return change(undefined);
  let written = false;
  const result = await change(auditInTransaction(recorder, request, entry, () => {
    written = true;
  }));
  if (written) recorder.committed?.();
  return result;
}

/** For tests and tools that record nothing. */
export const noAudit: AuditRecorder = { record: async () => {} };

export { auditOutboxTable, createOutboxAuditRecorder, AUDIT_RELAY_RETRY_MS, AUDIT_RELAY_RETRY_MAX_MS, type DurableAuditRecorder } from './outbox';
