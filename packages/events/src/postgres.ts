/**
 * PostgreSQL LISTEN/NOTIFY with the outbox as the log: the transport for services that share one
 * PostgreSQL database (each in its own schema) and need no other infrastructure.
 *
 * A NOTIFY is only a doorbell: `publish` sends `<source>:<highest position>` per source, and a
 * subscriber then reads the events themselves from that source's outbox log (`readLog`) after its
 * cursor. So this transport only carries events that are rows of their source's outbox in the
 * database at `url`, which is what the relay hands it; a notification that is lost (the listening
 * connection dropped, NOTIFY queued behind a long transaction) costs latency, never events: every
 * subscription catches up when it (re)listens and on a safety poll every `pollIntervalMs` (which
 * also finds sources that appeared since).
 *
 * Live subscriptions start at each source's head when they subscribe. Durable ones keep their
 * cursor per source in `paygraph_events.consumer_offsets` and resume from it, so a consumer that
 * was down gets what it missed, a new consumer gets the whole log, and a failing handler gets the
 * same event again after a backoff. Instances sharing a durable name each read the whole log (no
 * work sharing here); the inbox (inbox.ts) makes their effects happen once. A durable consumer
 * that gives a batch handler gets each batch read (up to 100 events of a source) in one call.
 */
import postgres from 'postgres';
import { reconnectDelaySeconds, type SqlRunner } from '@paygraph/db';
import type { Logger } from '@paygraph/logging';
import { logHead, readLog } from './outbox';
import type { DomainEvent, EventHandler, EventSubscription, EventTransport, SubscribeOptions } from './types';

export interface PostgresTransportOptions {
  /** The database holding the emitting services' schemas (and so their outboxes). */
  url: string;
  logger: Logger;
  channel?: string;
  /** The safety net for lost notifications: how often every subscription re-reads the logs. */
  pollIntervalMs?: number;
}

const EVENTS_CONNECT_TIMEOUT_SECONDS = 1;
/** Events read from a log per query while catching up. */
const READ_BATCH = 100;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 10_000;
const SOURCE_NAME = /^[a-z_][a-z0-9_]*$/;

type Query = SqlRunner['query'];

export async function createPostgresTransport(options: PostgresTransportOptions): Promise<EventTransport> {
  const { url, logger, channel = 'paygraph_events', pollIntervalMs = 2000 } = options;
  // Two pooled connections for reads and offsets; `listen` opens one more of its own.
  // Like the services' pools (packages/db): a connection attempt gives up after a second and a
  // dropped one is reopened within half a second, so after a database restart events (and /ready)
  // come back as soon as the database does.
  const sql = postgres(url, {
    max: 2,
    onnotice: () => {},
    connect_timeout: EVENTS_CONNECT_TIMEOUT_SECONDS,
    backoff: reconnectDelaySeconds,
    idle_timeout: 30,
    connection: { application_name: 'paygraph-events' },
  });
  const query: Query = async <T>(text: string, params: readonly unknown[] = []) =>
    (await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })) as unknown as T[];
  try {
    await ensureOffsetsTable(sql);
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw error;
  }
  const subscriptions = new Set<LogSubscription>();
  let listening: Promise<postgres.ListenMeta> | null = null;
  const listen = () => {
    listening ??= sql
      .listen(
        channel,
        (payload) => subscriptions.forEach((subscription) => subscription.notified(payload)),
        // Also runs after postgres.js re-listens on a new connection: notifications may have been lost.
        () => subscriptions.forEach((subscription) => subscription.relistened()),
      )
      .catch((error: unknown) => {
        listening = null;
        throw error;
      });
    return listening;
  };

  return {
    kind: 'postgres',
    publish: (events) => notifyHeads(sql, channel, events),
    async unappliedFrom(source) {
      // Offsets are the last position each durable consumer applied; the lowest bounds retention.
      const [row] = await query<{ applied: string | null }>(`select min(position)::text as applied from paygraph_events.consumer_offsets where source = $1`, [source]);
      return row?.applied ? BigInt(row.applied) + 1n : null;
    },
    async subscribe(handler, subscribeOptions: SubscribeOptions = {}): Promise<EventSubscription> {
      // Listening first: an event positioned after the cursors are set also rings the bell.
      await listen();
      const subscription = createLogSubscription({ query, handler, durable: subscribeOptions.durable, handleBatch: subscribeOptions.handleBatch, pollIntervalMs, logger });
      await subscription.start();
      subscriptions.add(subscription);
      return {
        async unsubscribe() {
          subscriptions.delete(subscription);
          await subscription.stop();
        },
      };
    },
    async ready() {
      return sql`select 1`.then(() => true, () => false);
    },
    async close() {
      const open = [...subscriptions];
      subscriptions.clear();
      await Promise.all(open.map((subscription) => subscription.stop()));
      // Unlistening first, so that ending the listening connection does not make postgres.js re-listen.
      const listener = await listening?.catch(() => null);
      await listener?.unlisten().catch(() => {});
      await sql.end({ timeout: 5 });
    },
  };
}

/** Created once per database, by whichever process starts first (the lock serialises the DDL). */
async function ensureOffsetsTable(sql: postgres.Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('paygraph_events.consumer_offsets'))`;
    await tx`create schema if not exists paygraph_events`;
    await tx`create table if not exists paygraph_events.consumer_offsets (
      consumer text not null,
      source text not null,
      position bigint not null,
      primary key (consumer, source)
    )`;
  });
}

/** One notification per source: the highest position of the batch (the log holds the events). */
async function notifyHeads(sql: postgres.Sql, channel: string, events: readonly DomainEvent[]): Promise<void> {
  const heads = new Map<string, bigint>();
  for (const event of events) {
    const position = BigInt(event.sequence);
    if (position > (heads.get(event.source) ?? 0n)) heads.set(event.source, position);
  }
  for (const [source, position] of heads) await sql`select pg_notify(${channel}, ${`${source}:${position}`})`;
}

function parseNotification(payload: string): { source: string; position: bigint } | null {
  const match = /^([a-z_][a-z0-9_]*):(\d+)$/.exec(payload);
  return match ? { source: match[1]!, position: BigInt(match[2]!) } : null;
}

/** The schemas that keep an outbox log. */
async function discoverSources(query: Query): Promise<string[]> {
  const rows = await query<{ source: string }>(
    `select table_schema as source from information_schema.columns where table_name = 'outbox_events' and column_name = 'position'`,
  );
  return rows.map((row) => row.source).filter((source) => SOURCE_NAME.test(source));
}

async function loadOffset(query: Query, consumer: string, source: string): Promise<bigint> {
  const [row] = await query<{ position: string }>(
    `select position::text as position from paygraph_events.consumer_offsets where consumer = $1 and source = $2`,
    [consumer, source],
  );
  return BigInt(row?.position ?? '0');
}

async function saveOffset(query: Query, consumer: string, source: string, position: bigint): Promise<void> {
  await query(
    `insert into paygraph_events.consumer_offsets (consumer, source, position) values ($1, $2, $3::bigint)
     on conflict (consumer, source) do update set position = greatest(consumer_offsets.position, excluded.position)`,
    [consumer, source, position.toString()],
  );
}

/** The wait before the next attempt after `failures` failures in a row: 250 ms, doubling, at most 10 s. */
export function retryDelayMs(failures: number): number {
  return Math.min(RETRY_FIRST_MS * 2 ** Math.max(failures - 1, 0), RETRY_MAX_MS);
}

interface LogSubscription {
  start(): Promise<void>;
  notified(payload: string): void;
  relistened(): void;
  stop(): Promise<void>;
}

/** Where a subscription is in one source's log, and whether a delivery round runs or waits. */
interface Cursor {
  position: bigint;
  /** A round is delivering; `wake` then only asks it to read once more. */
  running: boolean;
  /** Something may have been appended since the running round last read. */
  again: boolean;
  round: Promise<void>;
  failures: number;
  retry: NodeJS.Timeout | null;
}

/**
 * One subscription: a cursor per source, rounds that read the log after the cursor and call the
 * handler one event at a time (or a durable consumer's batch handler once per batch read). At most
 * one round per source runs at once, so events of a source reach the handler in position order,
 * never concurrently, and each once.
 */
function createLogSubscription(options: {
  query: Query;
  handler: EventHandler;
  durable: string | undefined;
  handleBatch: SubscribeOptions['handleBatch'];
  pollIntervalMs: number;
  logger: Logger;
}): LogSubscription {
  const { query, handler, durable, logger } = options;
  // Only a durable consumer applies batches: a live subscriber's events are reported one by one.
  const handleBatch = durable ? options.handleBatch : undefined;
  const cursors = new Map<string, Cursor>();
  let stopped = false;
  let poll: NodeJS.Timeout | null = null;
  let discovery: Promise<void> = Promise.resolve();

  const startPosition = (source: string, atSubscribe: boolean): Promise<bigint> => {
    if (durable) return loadOffset(query, durable, source);
    // Live: only what is published from now on; a source that appears later, from its beginning.
    return atSubscribe ? logHead(query, source) : Promise.resolve(0n);
  };

  const addNewSources = async (atSubscribe: boolean): Promise<void> => {
    for (const source of await discoverSources(query)) {
      if (cursors.has(source)) continue;
      const position = await startPosition(source, atSubscribe);
      cursors.set(source, { position, running: false, again: false, round: Promise.resolve(), failures: 0, retry: null });
    }
  };

  /** One discovery at a time, each after the previous one, so none misses a schema the last one did not see. */
  const discover = (atSubscribe: boolean): Promise<void> => {
    discovery = discovery.catch(() => {}).then(() => addNewSources(atSubscribe));
    return discovery;
  };

  const deliver = async (source: string, event: DomainEvent): Promise<void> => {
    if (durable) return handler(event);
    try {
      await handler(event);
    } catch (error) {
      // Live subscribers are fan-out (the gateway): like the in-process transport, report and go on.
      logger.error({ err: error, source, eventId: event.id }, 'event handler failed');
    }
  };

  /** One event after the other, the cursor moved past each one delivered. */
  const deliverEach = async (source: string, cursor: Cursor, events: readonly DomainEvent[]): Promise<void> => {
    for (const event of events) {
      if (stopped) break;
      const position = BigInt(event.sequence);
      // The log is read in position order; anything else would move the cursor past unread events.
      if (position <= cursor.position) throw new Error(`log ${source} read out of order: ${position} after ${cursor.position}`);
      await deliver(source, event);
      cursor.position = position;
      cursor.failures = 0;
    }
  };

  /**
   * A durable consumer with a batch handler gets the batch in one call (its events checked in
   * ascending order after the cursor first); should that throw, the same events go one by one, so
   * the cursor stops before the event that fails and that event is the one retried.
   */
  const deliverBatch = async (source: string, cursor: Cursor, events: readonly DomainEvent[], apply: NonNullable<SubscribeOptions['handleBatch']>): Promise<void> => {
    let previous = cursor.position;
    for (const event of events) {
      const position = BigInt(event.sequence);
      if (position <= previous) throw new Error(`log ${source} read out of order: ${position} after ${previous}`);
      previous = position;
    }
    try {
      await apply(events);
    } catch (error) {
      logger.warn({ err: error, source, consumer: durable, events: events.length }, 'a batch of events failed; delivering them one by one');
      await deliverEach(source, cursor, events);
      return;
    }
    cursor.position = previous;
    cursor.failures = 0;
  };

  /**
   * Reads and delivers until the log has nothing after the cursor; a throw ends the round. A
   * durable cursor is saved once per batch read (after its last delivered event, also when a
   * handler failed or the subscription stopped mid-batch), not after each event: a process that
   * dies mid-batch gets the batch's delivered events again, which the consumer's inbox recognises
   * (at least once, as on every transport), for one write per batch instead of one per event.
   */
  const catchUp = async (source: string, cursor: Cursor): Promise<void> => {
    for (;;) {
      const events = await readLog(query, source, { after: cursor.position, limit: READ_BATCH });
      const saved = cursor.position;
      let failure: { error: unknown } | null = null;
      try {
        if (handleBatch && events.length > 1 && !stopped) await deliverBatch(source, cursor, events, handleBatch);
        else await deliverEach(source, cursor, events);
      } catch (error) {
        failure = { error };
      }
      if (durable && cursor.position > saved) {
        try {
          await saveOffset(query, durable, source, cursor.position);
        } catch (error) {
          // The handler's failure, if any, is the one the round reports; this one is only logged.
          if (!failure) throw error;
          logger.error({ err: error, source, consumer: durable }, 'durable offset could not be saved');
        }
      }
      if (failure) throw failure.error;
      if (stopped) return;
      if (events.length < READ_BATCH) return;
    }
  };

  /** The round stopped at an event it could not deliver: the same event is tried again after a backoff. */
  const retryLater = (source: string, cursor: Cursor, error: unknown): void => {
    cursor.failures += 1;
    const delayMs = retryDelayMs(cursor.failures);
    logger.error({ err: error, source, consumer: durable, retryInMs: delayMs }, 'event delivery failed; retrying the same event');
    cursor.retry = setTimeout(() => {
      cursor.retry = null;
      wake(source);
    }, delayMs);
    cursor.retry.unref();
  };

  const runRound = async (source: string, cursor: Cursor): Promise<void> => {
    try {
      while (cursor.again && !stopped) {
        cursor.again = false;
        await catchUp(source, cursor);
      }
    } catch (error) {
      if (!stopped) retryLater(source, cursor, error);
    } finally {
      cursor.running = false;
    }
  };

  const wake = (source: string): void => {
    const cursor = cursors.get(source);
    if (!cursor || stopped) return;
    cursor.again = true;
    // A round in progress reads again before it ends; a round waiting on its backoff keeps waiting.
    if (cursor.running || cursor.retry) return;
    cursor.running = true;
    cursor.round = runRound(source, cursor);
  };

  const wakeAll = () => cursors.forEach((_, source) => wake(source));

  const discoverThenWake = () => {
    discover(false)
      .then(wakeAll)
      .catch((error: unknown) => logger.error({ err: error }, 'event source discovery failed'));
  };

  return {
    async start() {
      await discover(true);
      // Events positioned while the cursors were being set rang before we were ready: read now.
      wakeAll();
      // The poll also looks for new sources: it must stand in for notifications that never come.
      poll = setInterval(discoverThenWake, options.pollIntervalMs);
      poll.unref();
    },
    notified(payload) {
      const notification = parseNotification(payload);
      if (!notification || stopped) return;
      const cursor = cursors.get(notification.source);
      if (!cursor) discoverThenWake();
      else if (notification.position > cursor.position) wake(notification.source);
    },
    relistened() {
      if (!stopped) discoverThenWake();
    },
    async stop() {
      stopped = true;
      if (poll) clearInterval(poll);
      for (const cursor of cursors.values()) if (cursor.retry) clearTimeout(cursor.retry);
      // The handler call in progress finishes; no other starts.
      await Promise.all([...cursors.values()].map((cursor) => cursor.round));
    },
  };
}
