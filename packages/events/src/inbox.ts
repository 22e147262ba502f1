/**
 * The consumer side of exactly-once effects: a consumer records each event id it processed in
 * the same transaction as the effects. An event delivered again finds its id and changes nothing.
 */
import { primaryKey, text, timestamp, type PgSchema } from 'drizzle-orm/pg-core';
import type { RawTransaction, SqlRunner } from '@paygraph/db';
import type { DomainEvent } from './types';

/** The inbox table in a consumer's schema; the service's drizzle schema module exports it. */
export function inboxTable<TSchema extends string>(schema: PgSchema<TSchema>) {
  return schema.table(
    'processed_events',
    {
      consumer: text('consumer').notNull(),
      eventId: text('event_id').notNull(),
      processedAt: timestamp('processed_at', { withTimezone: true }).notNull().defaultNow(),
    },
    (table) => [primaryKey({ columns: [table.consumer, table.eventId] })],
  );
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * Applies `effect` for `event` once per consumer: returns false (and runs nothing) when the event
 * was processed before. If `effect` throws, nothing is recorded and the event can be retried.
 */
export async function applyOnce(
  transaction: RawTransaction,
  schemaName: string,
  consumer: string,
  event: Pick<DomainEvent, 'id'>,
  effect: (sql: SqlRunner) => Promise<void>,
): Promise<boolean> {
  if (!IDENTIFIER.test(schemaName)) throw new Error(`Invalid schema name: ${schemaName}`);
  return transaction(async (sql) => {
    const inserted = await sql.query(
      `insert into "${schemaName}".processed_events (consumer, event_id) values ($1, $2) on conflict do nothing returning event_id`,
      [consumer, event.id],
    );
    if (inserted.length === 0) return false;
    await effect(sql);
    return true;
  });
}

/** Inbox rows deleted per run: bounded work. */
const INBOX_PRUNE_MAX = 20_000;

/**
 * Retention for an inbox: forgets processed ids older than `olderThanSeconds`. Safe because a
 * transport only delivers again what the consumer has not acknowledged, which is never that old
 * (the outbox keeps every event a durable consumer has not applied).
 */
export async function pruneInbox(query: SqlRunner['query'], schemaName: string, olderThanSeconds: number): Promise<number> {
  if (!IDENTIFIER.test(schemaName)) throw new Error(`Invalid schema name: ${schemaName}`);
  const rows = await query<{ event_id: string }>(
    `delete from "${schemaName}".processed_events where ctid in (
       select ctid from "${schemaName}".processed_events where processed_at < now() - make_interval(secs => $1::integer) limit $2::integer)
     returning event_id`,
    [String(olderThanSeconds), String(INBOX_PRUNE_MAX)],
  );
  return rows.length;
}
