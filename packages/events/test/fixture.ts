/**
 * A PostgreSQL database of a test file's own, holding outboxes (the same columns as outboxTable)
 * and an inbox, plus the relay's view of it. The transports under test run against real servers
 * whatever DATABASE_URL says, so every CI pass exercises them.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import type { RawTransaction, SqlRunner } from '@paygraph/db';
import { createOwnDatabase } from '@paygraph/db/testing';
import { appendEvent, relayPass, type DomainEvent, type EventTransport, type RelayFaults } from '../src';

const postgresServerUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const natsServerUrl = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export const randomSuffix = () => randomBytes(4).toString('hex');

export interface TestDatabase {
  url: string;
  /** What relayPass and applyOnce need, on a client of the test's own. */
  database: { transaction: RawTransaction; query: SqlRunner['query']; target: { kind: 'postgres'; url: string; poolMax: number } };
  /** Creates an outbox (a source) in its own schema. */
  addSource(source: string): Promise<void>;
  /** Commits `count` events of one aggregate to a source's outbox; returns their aggregate id. */
  append(source: string, count: number, aggregateId?: string): Promise<string>;
  /**
   * Commits `count` payment status changes in one statement (fast enough for 10,000): payment
   * `pay_<n % payments>`, buyer `usr_b<n % 3>`, merchant `usr_m`, statuses alternating.
   */
  appendMany(source: string, count: number, payments?: number): Promise<void>;
  relay(source: string, transport: EventTransport, faults?: RelayFaults): Promise<number>;
  drop(): Promise<void>;
}

/** The DDL of a source's outbox in its own schema: the columns of outboxTable, one statement each. */
export function outboxStatements(source: string): string[] {
  return [
    `create schema ${source}`,
    `create table ${source}.outbox_events (
      id text primary key,
      sequence bigserial not null unique,
      position bigint unique,
      aggregate_type text not null,
      aggregate_id text not null,
      aggregate_version integer not null,
      type text not null,
      payload jsonb not null,
      created_at timestamptz not null default now(),
      published_at timestamptz,
      trace_parent text,
      unique (aggregate_id, aggregate_version))`,
  ];
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const own = await createOwnDatabase(postgresServerUrl, 'events');
  const url = own.url;
  const client = postgres(url, { max: 4, onnotice: () => {} });
  const runner = (run: postgres.Sql | postgres.TransactionSql): SqlRunner['query'] =>
    async <T>(text: string, params: readonly unknown[] = []) => (await run.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as T[];
  const database: TestDatabase['database'] = {
    transaction: <T>(work: (sql: SqlRunner) => Promise<T>) => client.begin((tx) => work({ query: runner(tx) })) as Promise<T>,
    query: runner(client),
    target: { kind: 'postgres', url, poolMax: 4 },
  };
  const versions = new Map<string, number>();
  await client.unsafe(`create schema consumer; create table consumer.processed_events (
    consumer text not null, event_id text not null, processed_at timestamptz not null default now(), primary key (consumer, event_id))`);
  return {
    url,
    database,
    async addSource(source) {
      for (const statement of outboxStatements(source)) await client.unsafe(statement);
    },
    async append(source, count, aggregateId = `agg_${randomSuffix()}`) {
      await database.transaction(async (sql) => {
        for (let index = 0; index < count; index += 1) {
          const version = (versions.get(aggregateId) ?? 0) + 1;
          versions.set(aggregateId, version);
          await appendEvent(sql, source, { aggregateType: 'Payment', aggregateId, aggregateVersion: version, type: 'PaymentTested', payload: { n: version } });
        }
      });
      return aggregateId;
    },
    async appendMany(source, count, payments = 7) {
      const tag = randomSuffix();
      await database.query(
        `insert into ${source}.outbox_events (id, aggregate_type, aggregate_id, aggregate_version, type, payload)
         select 'evt_' || $1 || '_' || n, 'Payment', 'pay_' || $1 || '_' || (n % $3::integer), n, 'payment.changed',
                jsonb_build_object('paymentId', 'pay_' || $1 || '_' || (n % $3::integer), 'buyerId', 'usr_b' || (n % 3), 'merchantId', 'usr_m',
                                   'status', case when n % 2 = 0 then 'SUCCEEDED' else 'PENDING' end, 'previousStatus', null)
           from generate_series(1, $2::integer) as n order by n`,
        [tag, String(count), String(payments)],
      );
    },
    relay: (source, transport, faults) => relayPass(database, source, transport, { faults }),
    async drop() {
      await client.end({ timeout: 5 });
      await own.drop();
    },
  };
}

/** Collects what a handler receives. */
export function recorder() {
  const events: DomainEvent[] = [];
  return { events, handler: (event: DomainEvent) => void events.push(event) };
}

/** Polls `check` until it passes or `timeoutMs` elapse (then its last failure is thrown). */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `source:position` for positions from..to. */
export const range = (source: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => `${source}:${from + index}`);
