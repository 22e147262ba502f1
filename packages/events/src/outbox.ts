/**
 * The transactional outbox as a log, the same for every service that emits events.
 *
 * A service writes its event rows in the transaction that changes its state (`appendEvent`);
 * `sequence` is the insertion order. The relay then gives each committed event its `position` in
 * the log (1, 2, 3... with no gaps, in insertion order), hands the positioned events to the
 * transport in position order and marks them published. Positions are given by the relay, not at
 * insertion, because insertion order is not commit order: a transaction that took sequence 5 may
 * commit after the one that took 6, and a log read between the two would skip 5 for good.
 *
 * Crash windows: stopped after commit and before the claim, or after the claim and before
 * publishing, the events wait in the table and the next pass publishes them with the positions
 * they have; stopped after publishing and before marking, the next pass publishes the same events
 * again, with the same ids and positions (at least once; consumers apply by id, see inbox.ts).
 */
import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, integer, jsonb, text, timestamp, uniqueIndex, type IndexBuilder, type PgSchema } from 'drizzle-orm/pg-core';
import { newId, sendStatement, type RawTransaction, type SqlRunner, type ServiceDatabase } from '@paygraph/db';
import type { Logger } from '@paygraph/logging';
import { currentTraceParent } from '@paygraph/telemetry';
import type { DomainEvent, EventTransport } from './types';
import { reportOutbox } from './metrics';

type OutboxColumns = { aggregateType: any; aggregateId: any; position: any; payload: any };

/**
 * The outbox table in a service's schema; the service's drizzle schema module exports it.
 * `extraIndexes` adds a service's own read paths (e.g. payments' replay by buyer or merchant).
 */
export function outboxTable<TSchema extends string, TAggregate extends string>(
  schema: PgSchema<TSchema>,
  extraIndexes: (table: OutboxColumns) => IndexBuilder[] = () => [],
) {
  return schema.table(
    'outbox_events',
    {
      id: text('id').primaryKey(),
      sequence: bigserial('sequence', { mode: 'bigint' }).notNull(),
      /** The event's place in the log, given by the relay (null until then). */
      position: bigint('position', { mode: 'bigint' }),
      aggregateType: text('aggregate_type').$type<TAggregate>().notNull(),
      aggregateId: text('aggregate_id').notNull(),
      aggregateVersion: integer('aggregate_version').notNull(),
      type: text('type').notNull(),
      payload: jsonb('payload').notNull(),
      createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
      /** Set by the relay once the event was handed to the transport (at-least-once delivery). */
      publishedAt: timestamp('published_at', { withTimezone: true }),
      /**
       * The W3C traceparent of the request that wrote the event, when it was traced: consumers
       * continue that trace (@paygraph/telemetry traceEvent). Null while tracing is off.
       */
      traceParent: text('trace_parent'),
    },
    (table) => [
      uniqueIndex('outbox_aggregate_version_unique').on(table.aggregateId, table.aggregateVersion),
      uniqueIndex('outbox_sequence_unique').on(table.sequence),
      uniqueIndex('outbox_position_unique').on(table.position),
      index('outbox_unclaimed_idx').on(table.sequence).where(sql`${table.position} is null`),
      index('outbox_unpublished_idx').on(table.position).where(sql`${table.publishedAt} is null`),
      index('outbox_aggregate_position_idx').on(table.aggregateId, table.position),
      ...extraIndexes(table),
    ],
  );
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** The schema-qualified outbox table of a source; the name is checked, never interpolated raw. */
function outboxTableName(source: string): string {
  if (!IDENTIFIER.test(source)) throw new Error(`Invalid event source name: ${source}`);
  return `"${source}".outbox_events`;
}

/** Writes one event in the caller's transaction (the one that changes the state it describes). */
export async function appendEvent(
  sql: SqlRunner,
  source: string,
  event: { aggregateType: string; aggregateId: string; aggregateVersion: number; type: string; payload: unknown },
): Promise<void> {
  const text = `insert into ${outboxTableName(source)} (id, aggregate_type, aggregate_id, aggregate_version, type, payload, trace_parent) values ($1, $2, $3, $4::integer, $5, $6::jsonb, $7)`;
  // The writing request's trace context (null while tracing is off), so consumers continue its trace.
  const params = [newId('evt'), event.aggregateType, event.aggregateId, String(event.aggregateVersion), event.type, JSON.stringify(event.payload), currentTraceParent()];
  // Nothing reads the insert's result: in a transaction it is sent without waiting (it travels
  // with the next statement or the COMMIT, and its failure fails the transaction).
  await sendStatement(sql, text, params);
}

/**
 * The columns of a log read. The position is read as text under its own name (`log_position`):
 * aliasing it `position` would make `order by position` sort the text ("100" before "95").
 */
const EVENT_COLUMNS = `id, position::text as log_position, aggregate_type, aggregate_id, aggregate_version, type, payload, created_at, trace_parent`;

function eventFromRow(source: string, row: Record<string, unknown>): DomainEvent {
  const createdAt = row.created_at instanceof Date ? row.created_at : new Date(String(row.created_at));
  const position = String(row.log_position);
  if (!/^\d+$/.test(position)) throw new Error(`outbox ${source}: event ${String(row.id)} has no position`);
  return {
    id: String(row.id),
    source,
    sequence: position,
    aggregateType: String(row.aggregate_type),
    aggregateId: String(row.aggregate_id),
    aggregateVersion: Number(row.aggregate_version),
    type: String(row.type),
    payload: typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload,
    occurredAt: createdAt.toISOString(),
    ...(typeof row.trace_parent === 'string' ? { traceParent: row.trace_parent } : {}),
  };
}

/** Binds a text parameter of a log read and returns its placeholder (`$3`). */
export type BindParameter = (value: string) => string;

export interface ReadLogOptions {
  /** Exclusive: events with a position above this one. */
  after: bigint;
  limit: number;
  aggregateId?: string | null;
  aggregateType?: string | null;
  /**
   * An extra SQL condition on the outbox row (its columns unqualified), with its values bound
   * through `bind`: how an event contract narrows the log (status changes, one viewer's events).
   */
  condition?: (bind: BindParameter) => string;
}

/**
 * Reads the log after a position, in position order (as integers): the one reader behind live
 * transports catching up, the relay's batches and subscription replays. Only positioned events are
 * in the log.
 */
export async function readLog(query: SqlRunner['query'], source: string, options: ReadLogOptions): Promise<DomainEvent[]> {
  if (options.after < 0n) throw new Error(`readLog: negative position ${options.after}`);
  const params: string[] = [options.after.toString(), String(options.limit)];
  const bind: BindParameter = (value) => {
    params.push(value);
    return `$${params.length}::text`;
  };
  let filter = '';
  if (options.aggregateId) filter += ` and aggregate_id = ${bind(options.aggregateId)}`;
  if (options.aggregateType) filter += ` and aggregate_type = ${bind(options.aggregateType)}`;
  if (options.condition) filter += ` and (${options.condition(bind)})`;
  const rows = await query(
    `select ${EVENT_COLUMNS} from ${outboxTableName(source)} where position > $1::bigint${filter} order by position limit $2::integer`,
    params,
  );
  return rows.map((row) => eventFromRow(source, row));
}

/** The last position given, or 0 for an empty log. */
export async function logHead(query: SqlRunner['query'], source: string): Promise<bigint> {
  const [row] = await query<{ head: string }>(`select coalesce(max(position), 0)::text as head from ${outboxTableName(source)}`);
  return BigInt(row?.head ?? '0');
}

/**
 * The oldest position still in the log, or null when nothing was ever positioned. Retention
 * removes old events but always keeps the newest, so a log that had events is never empty and a
 * position below this one (minus one) names events that are gone.
 */
export async function logTail(query: SqlRunner['query'], source: string): Promise<bigint | null> {
  const [row] = await query<{ tail: string | null }>(`select min(position)::text as tail from ${outboxTableName(source)}`);
  return row?.tail ? BigInt(row.tail) : null;
}

/** A test's control over a relay pass: a step after which it stops as if the process crashed. */
export interface RelayFaults {
  crashAfterClaim: boolean;
  crashAfterPublish: boolean;
}

/** Events relayed per batch; a pass runs batches until the outbox is drained. */
const RELAY_BATCH_MAX = 200;

type RelayDatabase = Pick<ServiceDatabase<Record<string, unknown>>, 'transaction' | 'query' | 'target'>;

/** Serialises relays of one source across processes (PostgreSQL); one process owns a PGlite. */
async function underRelayLock<T>(database: RelayDatabase, source: string, work: () => Promise<T>): Promise<T> {
  if (database.target.kind === 'pglite') return work();
  // The lock is held by its own transaction while the work runs on other pooled connections,
  // so that publishing (which may call back into this database) never waits on it. That
  // transaction is idle meanwhile, for as long as the pass takes, so it is exempt from
  // DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS (set_config local: no extra round trip): ended under a
  // running pass, the lock would let a second pass publish at the same time, out of position order
  // on NATS, whose stream keeps publish order. It holds no row, so exempting it keeps no writer
  // waiting. Should two passes still meet, the claim never rewrites a position (it claims only
  // rows without one, re-checked under the row lock) and positions stay unique (the index).
  return database.transaction(async (sql) => {
    await sql.query(`select set_config('idle_in_transaction_session_timeout', '0', true), pg_advisory_xact_lock(hashtext($1))`, [`paygraph.relay.${source}`]);
    return work();
  });
}

/** One pass: positions the committed events, publishes every unpublished one in order, marks them. */
export async function relayPass(
  database: RelayDatabase,
  source: string,
  transport: EventTransport,
  options: {
    batchMax?: number;
    faults?: RelayFaults | undefined;
    /**
     * The safety timer's pass: on PostgreSQL, first one cheap read (no lock transaction) of
     * whether any event waits to be positioned or published; nothing is done when none does.
     * What commits after that read is kicked by its writer (or found by the next timer pass).
     */
    onlyIfWaiting?: boolean;
  } = {},
): Promise<number> {
  const { batchMax = RELAY_BATCH_MAX, faults } = options;
  const table = outboxTableName(source);
  // On PGlite a pass takes no lock and its first statement reads as much: no read before it.
  if (options.onlyIfWaiting && database.target.kind !== 'pglite') {
    const [row] = await database.query<{ waiting: boolean }>(
      `select exists (select 1 from ${table} where position is null) or exists (select 1 from ${table} where published_at is null) as waiting`,
    );
    if (row?.waiting === false) return 0;
  }
  return underRelayLock(database, source, async () => {
    let total = 0;
    /** The ids of a full batch just published: the next round's statement marks them. */
    let published = '';
    for (;;) {
      // One statement marks the previous round's batch (if any), claims and reads: it positions
      // the oldest unclaimed events after the head and returns them with any positioned but
      // unpublished ones (a pass that stopped before marking), lowest positions first. Its reads
      // see the table as it was before its own updates: the rows it claims had no position there
      // (so the two parts never overlap) and the rows it marks are left out by id.
      const rows = await database.query(
        `with marked as (update ${table} set published_at = now() where id = any(string_to_array($2, ',')) and published_at is null),
              head as (select coalesce(max(position), 0) as p from ${table}),
              next as (select id, row_number() over (order by sequence) as n from ${table} where position is null order by sequence limit $1::integer),
              claimed as (update ${table} o set position = head.p + next.n from head, next where o.id = next.id and o.position is null returning o.*),
              waiting as (select * from ${table} where published_at is null and position is not null and id <> all(string_to_array($2, ',')) order by position limit $1::integer),
              batch as (select * from waiting union all select * from claimed)
         select ${EVENT_COLUMNS} from batch order by position limit $1::integer`,
        [String(batchMax), published],
      );
      if (faults?.crashAfterClaim) throw new Error('simulated crash after claiming, before publishing');
      if (rows.length === 0) return total;
      const events = rows.map((row) => eventFromRow(source, row));
      assertAscending(source, events);
      await transport.publish(events);
      if (faults?.crashAfterPublish) throw new Error('simulated crash after publishing, before marking');
      total += events.length;
      published = events.map((event) => event.id).join(',');
      // A full batch: more may wait, and the next round marks this one in its statement.
      if (rows.length === batchMax) continue;
      await database.query(`update ${table} set published_at = now() where id = any(string_to_array($1, ',')) and published_at is null`, [published]);
      return total;
    }
  });
}

/** A batch handed to a transport is in strictly ascending position order: a broken one is a bug. */
function assertAscending(source: string, events: readonly DomainEvent[]): void {
  for (let index = 1; index < events.length; index += 1) {
    if (BigInt(events[index]!.sequence) <= BigInt(events[index - 1]!.sequence)) {
      throw new Error(`outbox ${source}: batch out of order at ${events[index - 1]!.sequence} -> ${events[index]!.sequence}`);
    }
  }
}

/** Rows deleted per statement while pruning, and statements per pruning run: bounded work. */
const PRUNE_BATCH_MAX = 5_000;
const PRUNE_BATCHES_PER_RUN_MAX = 20;

/**
 * Retention: deletes published events older than `olderThanSeconds`, never one at or above
 * `keepFrom` (the lowest position a durable consumer has not applied yet, when the transport keeps
 * consumers' positions in this database) and never the newest event, so the log's head and tail
 * stay known (a resume from a pruned position is then told so instead of silently skipping).
 */
export async function pruneLog(
  query: SqlRunner['query'],
  source: string,
  options: { olderThanSeconds: number; keepFrom: bigint | null },
): Promise<number> {
  const table = outboxTableName(source);
  let total = 0;
  for (let batch = 0; batch < PRUNE_BATCHES_PER_RUN_MAX; batch += 1) {
    const rows = await query<{ id: string }>(
      `delete from ${table} where id in (
         select id from ${table}
          where published_at is not null and position is not null
            and created_at < now() - make_interval(secs => $1::integer)
            and position < (select max(position) from ${table})
            and ($2::bigint is null or position < $2::bigint)
          order by position limit $3::integer)
       returning id`,
      [String(options.olderThanSeconds), options.keepFrom === null ? null : options.keepFrom.toString(), String(PRUNE_BATCH_MAX)],
    );
    total += rows.length;
    if (rows.length < PRUNE_BATCH_MAX) break;
  }
  return total;
}

/** How often a relay prunes its outbox (retention is days; this only bounds the work per run). */
const PRUNE_INTERVAL_MS = 10 * 60_000;

export interface OutboxRelay {
  /** Asks for a pass soon (after a commit that wrote events); passes never overlap. */
  kick(): void;
  /** Runs a pass now (after any running one) and resolves with the events it published. */
  drain(): Promise<number>;
  /** Stops the timer and waits for a running pass. */
  stop(): Promise<void>;
}

/**
 * Relays a service's outbox: on every kick (right after a commit that wrote events, so delivery
 * waits on no timer) and every `intervalMs` as a safety net (events written by another instance,
 * a pass that failed); on PostgreSQL the timer's pass first reads whether anything waits.
 */
function startOutboxRelay(options: {
  source: string;
  database: RelayDatabase;
  transport: EventTransport;
  logger: Logger;
  intervalMs: number;
  retentionSeconds?: number;
}): OutboxRelay {
  const { source, database, transport, logger } = options;
  let chain: Promise<number> = Promise.resolve(0);
  let queued: Promise<number> | null = null;
  let stopped = false;
  /** Whether the queued pass was asked for by the timer alone (a kick or a drain makes it a full pass). */
  let queuedByTimerOnly = false;
  const run = (fromTimer = false): Promise<number> => {
    if (!fromTimer) queuedByTimerOnly = false;
    if (queued) return queued;
    queuedByTimerOnly = fromTimer;
    const next = chain.then(() => {
      queued = null;
      if (stopped) return 0;
      return relayPass(database, source, transport, { onlyIfWaiting: queuedByTimerOnly }).catch((error: unknown) => {
        logger.error({ err: error, source }, 'outbox relay pass failed');
        return 0;
      });
    });
    queued = next;
    chain = next;
    return next;
  };
  const timer = setInterval(() => void run(true), options.intervalMs);
  timer.unref();
  const { retentionSeconds } = options;
  const prune = async () => {
    if (retentionSeconds === undefined || stopped) return;
    try {
      const keepFrom = (await transport.unappliedFrom?.(source)) ?? null;
      const pruned = await pruneLog(database.query, source, { olderThanSeconds: retentionSeconds, keepFrom });
      if (pruned > 0) logger.info({ source, pruned, retentionSeconds }, 'outbox events past retention pruned');
    } catch (error) {
      logger.error({ err: error, source }, 'outbox pruning failed');
    }
  };
  const pruneTimer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
  pruneTimer.unref();
  void run();
  return {
    kick: () => void run(),
    drain: () => run(),
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearInterval(pruneTimer);
      await chain;
    },
  };
}

export interface ServiceOutbox {
  /** The service's transaction runner: after each commit that wrote events, the relay (once started) is kicked. */
  transaction: RawTransaction;
  /** Starts relaying to the transport (once every service of the process listens). */
  start(transport: EventTransport, options: { logger: Logger; intervalMs: number; retentionSeconds?: number }): void;
  stop(): Promise<void>;
}

/**
 * A statement that names an outbox table: every event is written by one (appendEvent's insert), so
 * a transaction that sent none wrote no event. Errs on the side of a pass (a read of it counts too).
 */
const OUTBOX_STATEMENT = /outbox_events/i;

/**
 * A service's outbox in one place: the transactions that write its events and the relay that
 * publishes them right after they commit (a kick while a pass runs just asks for one more pass).
 * A transaction that sent no statement naming the outbox does not kick: it wrote no event.
 */
export function serviceOutbox(source: string, database: RelayDatabase): ServiceOutbox {
  let relay: OutboxRelay | undefined;
  let stopReporting: (() => void) | undefined;
  return {
    transaction: async (work) => {
      // Only a commit that touched the outbox asks for a pass: the others (a saga step recorded
      // without a status change) have nothing to relay, and their pass would cost statements.
      let touchedOutbox = false;
      const result = await database.transaction((sql) =>
        work({
          query: (text, params) => {
            touchedOutbox ||= OUTBOX_STATEMENT.test(text);
            return sql.query(text, params);
          },
          ...(sql.send
            ? {
                send: (text: string, params?: readonly unknown[]) => {
                  touchedOutbox ||= OUTBOX_STATEMENT.test(text);
                  sql.send!(text, params);
                },
              }
            : {}),
        }),
      );
      if (touchedOutbox) relay?.kick();
      return result;
    },
    start(transport, options) {
      stopReporting ??= reportOutbox(source, database.query); // outbox lag on the service's /metrics (metrics.ts)
      relay ??= startOutboxRelay({ source, database, transport, ...options });
    },
    stop: async () => {
      stopReporting?.();
      stopReporting = undefined;
      await relay?.stop();
    },
  };
}
