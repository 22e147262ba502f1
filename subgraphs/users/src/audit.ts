/**
 * The audit trail's API in users (packages/audit says why it lives here): services append with
 * `appendAuditEvents` (scope audit:write; the recording service is the credential's, never an
 * input; a record sent again with its id is stored once; one relayed late keeps the time it
 * happened, `occurredAt`, never later than now), admins read with `auditEvents`.
 * Nothing updates or deletes a record.
 */
import { badUserInput } from '@paygraph/errors';
import { requireRole, requireScope } from '@paygraph/identity';
import { connection, decodeCursor, pageSize } from '@paygraph/server';
// The contract every recording service writes to (packages/audit): its limits imported, not re-typed.
import { AUDIT_BATCH_MAX, AUDIT_DETAILS_LENGTH_MAX, AUDIT_RECORD_ID_PATTERN, AUDIT_TYPE_PATTERN, AUDIT_WRITE_SCOPE } from '@paygraph/audit';
import type { Context } from './context';
import type { AuditEventInput } from './generated/resolvers-types';

/** Ids and request ids are short tokens; emails (a failed login's subject) at most 254. */
const AUDIT_TEXT_LENGTH_MAX = 254;

function text(value: string | null | undefined, field: string): string | null {
  if (value === null || value === undefined) return null;
  if (value.length > AUDIT_TEXT_LENGTH_MAX) throw badUserInput(`${field} must be at most ${AUDIT_TEXT_LENGTH_MAX} characters`, field);
  return value;
}

export async function appendAuditEvents(context: Context, events: readonly AuditEventInput[]): Promise<number> {
  const service = requireScope(context.viewer, AUDIT_WRITE_SCOPE).service;
  if (events.length === 0 || events.length > AUDIT_BATCH_MAX) throw badUserInput(`events must hold 1 to ${AUDIT_BATCH_MAX} records`, 'events');
  const records = events.map((event, index) => {
    if (!AUDIT_TYPE_PATTERN.test(event.type) || event.type.length > 64) throw badUserInput('type must be a dotted lower-case name such as auth.login_failed', `events.${index}.type`);
    if (event.details !== null && event.details !== undefined) {
      if (event.details.length > AUDIT_DETAILS_LENGTH_MAX) throw badUserInput(`details must be at most ${AUDIT_DETAILS_LENGTH_MAX} characters`, `events.${index}.details`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(event.details);
      } catch {
        parsed = null;
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw badUserInput('details must be a JSON object', `events.${index}.details`);
    }
    if (event.id !== null && event.id !== undefined && !AUDIT_RECORD_ID_PATTERN.test(event.id)) throw badUserInput('id must be a record id such as aud_...', `events.${index}.id`);
    return {
      ...(event.id ? { id: event.id } : {}),
      type: event.type,
      actorId: text(event.actorId, `events.${index}.actorId`),
      subjectId: text(event.subjectId, `events.${index}.subjectId`),
      outcome: event.outcome,
      requestId: text(event.requestId, `events.${index}.requestId`),
      service,
      details: event.details ?? null,
      occurredAt: event.occurredAt ?? null,
    };
  });
  await context.store.appendAudit(records);
  return records.length;
}

export async function auditEvents(context: Context, args: { first?: number | null; after?: string | null; actorId?: string | null; type?: string | null }) {
  requireRole(context.viewer, 'ADMIN');
  const limit = pageSize(args.first);
  const before = decodeCursor(args.after, 'auditEvents');
  const rows = await context.store.listAudit({
    actorId: text(args.actorId, 'actorId'),
    type: text(args.type, 'type'),
    beforePosition: before === null ? null : BigInt(before),
    limit: limit + 1,
  });
  return connection(rows, limit, (row) => row.position.toString(), 'auditEvents');
}
