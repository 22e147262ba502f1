/**
 * Durable audit records for the services that do not own the trail. A record is first written to
 * the recording service's own database (`<service>.audit_outbox`), in the caller's transaction
 * when it passes one (`request.sql`; the caller calls committed() after the commit, as
 * auditedChange does, and the relay sends it then), and a relay then sends waiting records to users'
 * `appendAuditEvents` in batches, each under the id it was given here, and deletes what users
 * accepted. Users stores a record once per id, so the crash windows are harmless: stopped before
 * sending, the record waits in the table for the next pass (of this instance or another one);
 * stopped after sending and before deleting, the next pass sends it again and users keeps one.
 * While users is down records wait and the relay retries with a growing delay (at most
 * AUDIT_RELAY_RETRY_MAX_MS); records written meanwhile wait for that retry too (no call to users
 * and no log line per record); nothing is lost with the process. A relayed record carries the time
 * it was written here (`occurredAt`), so the trail keeps when the action happened.
 *
 * What stays best effort: a record whose own database write fails (the service's database down)
 * is logged with its content, as before; the action it describes usually failed with it.
 */
import { bigserial, index, text, timestamp, type PgSchema } from 'drizzle-orm/pg-core';
import { newId, type SqlRunner } from '@paygraph/db';
import type { Logger } from '@paygraph/logging';
import { createPort, ServiceContractError, type ServiceClient } from '@paygraph/service-client';
import { AppendAuditEventsDocument } from './generated/users-operations';
import { AUDIT_BATCH_MAX, type AuditRecorder } from './index';

/** The first retry after users refused or was unreachable; doubled per failed pass up to the max. */
export const AUDIT_RELAY_RETRY_MS = 1_000;
export const AUDIT_RELAY_RETRY_MAX_MS = 60_000;
/** Batches sent per relay pass before it yields (a pass is kicked again while records wait). */
const BATCHES_PER_PASS = 50;

/** The outbox table in a service's schema; the service's drizzle schema module exports it. */
export function auditOutboxTable<TSchema extends string>(schema: PgSchema<TSchema>) {
  return schema.table(
    'audit_outbox',
    {
      /** The record's id in the trail (`aud_...`): users stores one record per id. */
      id: text('id').primaryKey(),
      sequence: bigserial('sequence', { mode: 'bigint' }).notNull(),
      type: text('type').notNull(),
      actorId: text('actor_id'),
      subjectId: text('subject_id'),
      outcome: text('outcome').notNull(),
      requestId: text('request_id'),
      details: text('details'),
      createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    },
    (table) => [index('audit_outbox_sequence_idx').on(table.sequence)],
  );
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * Users refused a record's own content (not unavailable, not a scope): its validation names the
 * record's field (`events.<index>.details`), and sending that record again changes nothing. A
 * refusal that names no record (an older users that does not know a field of the input, during a
 * rolling deploy: Apollo's BAD_USER_INPUT for the variables) is about the call, not the records:
 * they stay and the relay retries later, as when users is down.
 */
const RECORD_FIELD = /^events\.\d+\./;
const refusedAsInvalid = (error: unknown) =>
  error instanceof ServiceContractError && error.refusal.code === 'BAD_USER_INPUT' && typeof error.refusal.field === 'string' && RECORD_FIELD.test(error.refusal.field);

interface OutboxRow {
  id: string;
  type: string;
  actor_id: string | null;
  subject_id: string | null;
  outcome: 'SUCCESS' | 'FAILURE' | 'DENIED';
  request_id: string | null;
  details: string | null;
  created_at: Date | string;
}

export interface DurableAuditRecorder extends AuditRecorder {
  /** Sends every waiting record now; resolves with how many users accepted (throws when users refuses). */
  flush(): Promise<number>;
  /** Starts the relay: a pass now, one after every record (unless backing off) and one after every retry delay. */
  start(): void;
  /** Stops the relay and waits for a pass in flight. Records left wait for the next start. */
  stop(): Promise<void>;
}

/**
 * A recorder that writes to `<source>.audit_outbox` through `query` (or the caller's `request.sql`)
 * and relays to users through `client` (a credential with audit:write).
 */
export function createOutboxAuditRecorder(options: { source: string; query: SqlRunner['query']; client: ServiceClient; logger: Logger; retryMs?: number }): DurableAuditRecorder {
  if (!IDENTIFIER.test(options.source)) throw new Error(`Invalid audit source name: ${options.source}`);
  const table = `"${options.source}".audit_outbox`;
  const port = createPort({ client: options.client, service: 'users' });
  const firstRetryMs = options.retryMs ?? AUDIT_RELAY_RETRY_MS;
  let running = false;
  /** stop() was called: a pass in flight ends after its current batch (the rest waits in the table). */
  let stopping = false;
  let inFlight: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let retryMs = firstRetryMs;

  async function sendBatch(): Promise<number> {
    const rows = await options.query<OutboxRow>(`select id, type, actor_id, subject_id, outcome, request_id, details, created_at from ${table} order by sequence limit ${AUDIT_BATCH_MAX}`);
    if (rows.length === 0) return 0;
    // occurredAt: when the record was written here, i.e. when the action happened, not when users
    // receives it (after an outage that may be much later).
    const events = rows.map((row) => ({
      id: row.id,
      type: row.type,
      actorId: row.actor_id,
      subjectId: row.subject_id,
      outcome: row.outcome,
      requestId: row.request_id,
      details: row.details,
      occurredAt: new Date(row.created_at).toISOString(),
    }));
    try {
      await port.call(AppendAuditEventsDocument, { events });
    } catch (error) {
      if (!refusedAsInvalid(error)) throw error;
      // A record users will never take must not hold back the others: each is sent alone, and one
      // refused as invalid is logged with its content and dropped.
      for (const event of events) {
        try {
          await port.call(AppendAuditEventsDocument, { events: [event] });
        } catch (single) {
          if (!refusedAsInvalid(single)) throw single;
          options.logger.error({ err: single, audit: event }, 'audit record refused by users as invalid: dropped from the audit outbox, it is in this log only');
        }
        await options.query(`delete from ${table} where id = $1`, [event.id]);
      }
      return rows.length;
    }
    await options.query(`delete from ${table} where id = any($1::text[])`, [rows.map((row) => row.id)]);
    return rows.length;
  }

  async function flush(): Promise<number> {
    let sent = 0;
    for (let batch = 0; batch < BATCHES_PER_PASS; batch += 1) {
      if (stopping) return sent;
      const count = await sendBatch();
      sent += count;
      if (count < AUDIT_BATCH_MAX) return sent;
    }
    again = true;
    return sent;
  }

  function schedule(delayMs: number): void {
    if (!running || timer) return;
    timer = setTimeout(() => {
      timer = null;
      kick();
    }, delayMs);
    timer.unref();
  }

  /**
   * Runs a pass now, unless one is in flight or the relay is backing off (a retry timer pending):
   * then it only notes that records wait, and the pass in flight (when it succeeds) or the timer's
   * runs them. So while users is down, new records cost no extra call and no extra log line.
   */
  function kick(): void {
    if (!running) return;
    if (inFlight || timer) {
      again = true;
      return;
    }
    again = false;
    inFlight = flush().then(
      () => {
        retryMs = firstRetryMs;
        inFlight = null;
        if (again) kick();
      },
      (error: unknown) => {
        options.logger.warn({ err: error, retryInMs: retryMs }, 'audit records could not be sent to users yet; they wait in the audit outbox');
        inFlight = null;
        // Back off: a pass asked for meanwhile (a record, a committed()) waits for the retry too.
        if (timer) clearTimeout(timer);
        timer = null;
        schedule(retryMs);
        retryMs = Math.min(retryMs * 2, AUDIT_RELAY_RETRY_MAX_MS);
      },
    );
  }

  return {
    async record(request, entry) {
      const row = [newId('aud'), entry.type, entry.actorId, entry.subjectId ?? null, entry.outcome, request.requestId ?? null, entry.details ? JSON.stringify(entry.details) : null];
      try {
        await (request.sql?.query ?? options.query)(`insert into ${table} (id, type, actor_id, subject_id, outcome, request_id, details) values ($1, $2, $3, $4, $5, $6, $7)`, row);
      } catch (error) {
        (request.logger ?? options.logger).error({ err: error, audit: { ...entry, requestId: request.requestId ?? null } }, 'audit record could not be written to the audit outbox; it is in this log only');
        if (request.sql) throw error;
        return;
      }
      // In the caller's transaction the record is sent once it has committed: the caller says so
      // with committed() (auditedChange does), or the next pass sends it.
      if (!request.sql) kick();
    },
    committed: () => kick(),
    flush,
    start() {
      running = true;
      stopping = false;
      kick();
    },
    async stop() {
      running = false;
      stopping = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await inFlight;
    },
  };
}
