/**
 * NATS JetStream: the transport for deployments that scale out, where consumers need not reach
 * the emitting services' database. Every event is a message of one stream
 * (`<prefix>.<source>.<aggregateType>`); its id is the JetStream message id, so a relay that
 * publishes the same events again (crash after publish, before marking) inside the 2-minute
 * duplicate window adds nothing to the stream.
 *
 * Retention (`EVENT_RETENTION_SECONDS`) is applied by the transport, not by a stream limit: a
 * stream `max_age` would drop a message a durable consumer has not acknowledged yet (a consumer
 * down longer than the retention would lose what it missed), and interest retention cannot keep
 * history for a durable consumer created later. So the stream has no age limit and every transport
 * instance periodically deletes the messages older than the retention that every durable consumer
 * has acknowledged (below the lowest ack floor), as the PostgreSQL outbox keeps what an offset has
 * not passed.
 *
 * Live subscriptions are ordered consumers starting after the stream's last message: every
 * subscriber gets every later event, in stream order. Durable subscriptions share one durable
 * consumer per name with at most one unacknowledged message (strict order across all the
 * instances that share the work); a message is acknowledged after the handler succeeded and
 * negatively acknowledged with a backoff when it threw, so it comes again and is never skipped.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '@paygraph/logging';
import { retryDelayMs } from './postgres';
import type { DomainEvent, EventHandler, EventSubscription, EventTransport, SubscribeOptions } from './types';

export interface NatsTransportOptions {
  servers: string | string[];
  logger: Logger;
  stream?: string;
  subjectPrefix?: string;
  /** Messages older than this are deleted once every durable consumer acknowledged them (EVENT_RETENTION_SECONDS); absent: kept. */
  retentionSeconds?: number;
  /** How often this instance prunes, ±20% (default 10 minutes; tests shorten it). */
  pruneIntervalMs?: number;
  /** Most messages one pruning run deletes (default 100,000; tests lower it). */
  pruneDeletesPerRun?: number;
}

const DUPLICATE_WINDOW_MS = 2 * 60_000;
/** How often a transport instance applies retention to the stream (retention is days; this bounds the delay). */
const PRUNE_INTERVAL_MS = 10 * 60_000;
/**
 * Each wait is the interval ±20%: every process prunes on its own timer, and processes started
 * together (a deployment) would otherwise all prune at the same moments.
 */
const PRUNE_JITTER = 0.2;
/** The pause before the next run when a run stopped at its cap (more old messages remain). */
const PRUNE_CATCH_UP_PAUSE_MS = 250;
const CLOSE_TIMEOUT_MS = 5_000;
/** How long one pull of a durable consumer waits for a message before the client asks again. */
const DURABLE_PULL_EXPIRES_MS = 5_000;
/** How long the server waits for a durable consumer's ack before giving the message to another instance. */
const ACK_WAIT_MS = 30_000;

export async function createNatsTransport(options: NatsTransportOptions): Promise<EventTransport> {
  const { logger, stream = 'PAYGRAPH_EVENTS', subjectPrefix = 'paygraph.events' } = options;
  // Reconnects for as long as the process runs: a NATS restart must not end event delivery.
  const nc = await connect({ servers: options.servers, name: 'paygraph-events', maxReconnectAttempts: -1 });
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
    await ensureStream(jsm, stream, subjectPrefix);
  } catch (error) {
    await nc.close();
    throw error;
  }
  const js = jetstream(nc);
  const subscriptions = new Set<EventSubscription>();
  /** Durable consumer names this process consumes: recreated with the stream when the server lost them. */
  const durables = new Set<string>();
  /** Per durable consumer name: ends its current consumption, which then starts over (after a repair). */
  const restarts = new Map<string, () => void>();
  const track = (unsubscribe: () => Promise<void>): EventSubscription => {
    const subscription: EventSubscription = {
      async unsubscribe() {
        subscriptions.delete(subscription);
        await unsubscribe();
      },
    };
    subscriptions.add(subscription);
    return subscription;
  };
  let repairing: Promise<void> | undefined;
  /**
   * Recreates the stream and this process's durable consumers when the server no longer has them:
   * NATS restarted on an empty store (a lost volume), or a running consumer was deleted by hand.
   * Without it, the relays failed every pass, the durable consumers waited for ever and nothing said
   * so. One repair at a time; callers share it.
   */
  const repair = (reason: string): Promise<void> =>
    (repairing ??= (async () => {
      try {
        await ensureStream(jsm, stream, subjectPrefix);
        for (const name of durables) await ensureDurable(jsm, stream, name);
        for (const restart of restarts.values()) restart();
        logger.warn({ stream, consumers: [...durables], reason }, 'the event stream or a durable consumer was missing on the NATS server: recreated (events published before it was lost are not delivered again)');
      } finally {
        repairing = undefined;
      }
    })());
  /** What the server is missing of the stream and this process's durable consumers (nothing: null). */
  const missingResource = async (): Promise<string | null> => {
    if (!(await jsm.streams.info(stream).then(() => true, (error: unknown) => !isNotFound(error)))) return `stream ${stream}`;
    for (const name of durables) {
      if (!(await jsm.consumers.info(stream, name).then(() => true, (error: unknown) => !isNotFound(error)))) return `consumer ${name}`;
    }
    return null;
  };
  const context: ConsumeContext = { js, jsm, stream, logger, durables, repair };
  const { retentionSeconds } = options;
  const pruneIntervalMs = options.pruneIntervalMs ?? PRUNE_INTERVAL_MS;
  const maxDeletes = options.pruneDeletesPerRun ?? PRUNE_DELETES_PER_RUN_MAX;
  /** Set by close(): the run in progress stops between chunks of deletes, and no other starts. */
  let stopping = false;
  let pruning: Promise<void> | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  const schedulePrune = (delayMs: number) => {
    pruneTimer = setTimeout(prune, delayMs);
    pruneTimer.unref();
  };
  // Runs never overlap: the next is scheduled when one ends.
  const prune = () => {
    if (retentionSeconds === undefined || stopping) return;
    pruning = pruneNatsStream(jsm, stream, { olderThanSeconds: retentionSeconds, maxDeletes, stopping: () => stopping })
      .then(
        (outcome) => {
          if (outcome.deleted > 0) logger.info({ stream, deleted: outcome.deleted, retentionSeconds }, 'stream events past retention deleted');
          if (outcome.staleConsumers.length > 0) {
            logger.warn(
              { stream, consumers: outcome.staleConsumers, retentionSeconds },
              'durable consumers hold stream events past retention (not acknowledged); delete one that no longer runs: nats consumer rm <stream> <name>',
            );
          }
          if (!outcome.capped) return jittered(pruneIntervalMs);
          // Traffic above a run's cap per interval would otherwise leave retention behind for good.
          logger.warn({ stream, deleted: outcome.deleted, maxDeletes }, 'stream pruning stopped at its per-run cap; running again shortly');
          return PRUNE_CATCH_UP_PAUSE_MS;
        },
        (error: unknown) => {
          logger.error({ err: error, stream }, 'stream pruning failed');
          return jittered(pruneIntervalMs);
        },
      )
      .then((delayMs) => {
        pruning = undefined;
        if (!stopping) schedulePrune(delayMs);
      });
  };
  if (retentionSeconds !== undefined) schedulePrune(jittered(pruneIntervalMs));

  return {
    kind: 'nats',
    async publish(events) {
      // Each publish is written to the connection when called, so the stream stores them in order.
      const publishAll = () => Promise.all(events.map((event) => js.publish(subjectOf(subjectPrefix, event), JSON.stringify(event), { msgID: event.id })));
      try {
        await publishAll();
      } catch (error) {
        // No stream takes the subjects (the server lost it): recreate it and publish once more.
        const missing = await missingResource().catch(() => null);
        if (missing === null || !missing.startsWith('stream')) throw error;
        await repair(`publishing found no ${missing}`);
        await publishAll();
      }
    },
    async subscribe(handler, subscribeOptions: SubscribeOptions = {}): Promise<EventSubscription> {
      const { durable } = subscribeOptions;
      if (!durable) {
        const messages = await consumeLive(context);
        const delivering = deliverLive(messages, handler, logger).catch((error: unknown) => logger.error({ err: error }, 'event subscription stopped'));
        return track(async () => {
          await messages.close();
          // The handler call in progress finishes; no other starts.
          await delivering;
        });
      }
      const name = natsConsumerName(durable);
      let stopped = false;
      let messages = await consumeDurable(context, durable);
      // A repair recreated the consumer: the client's pull on the old one may stall until heartbeats
      // are missed (it did not resume in 40 s), so the consumption starts over on the new one.
      restarts.set(name, () => void messages.close().catch(() => {}));
      const delivering = (async () => {
        for (;;) {
          await deliverDurable(messages, handler, logger, durable);
          if (stopped) return;
          const next = await reconsume(context, durable, () => stopped);
          if (!next) return;
          messages = next;
        }
      })().catch((error: unknown) => logger.error({ err: error, consumer: durable }, 'event subscription stopped'));
      return track(async () => {
        stopped = true;
        restarts.delete(name);
        durables.delete(name);
        await messages.close();
        await delivering;
      });
    },
    async ready() {
      // A round trip to the server: false while disconnected (the caller bounds the wait).
      if (nc.isClosed()) return false;
      if (!(await nc.flush().then(() => true, () => false))) return false;
      // Connected is not enough: a server that lost the stream or a consumer delivers nothing.
      const missing = await missingResource().catch(() => 'an answer to stream info');
      if (missing === null) return true;
      if (!missing.startsWith('an answer')) void repair(`readiness found no ${missing}`).catch((error: unknown) => logger.error({ err: error, stream }, 'could not recreate the event stream or its consumers'));
      return false;
    },
    async close() {
      stopping = true;
      clearTimeout(pruneTimer);
      // Returns after the chunk of deletes in flight, not the whole run.
      await pruning;
      await Promise.all([...subscriptions].map((subscription) => subscription.unsubscribe()));
      await drainOrClose(nc);
    },
  };
}

interface ConsumeContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  logger: Logger;
  durables: Set<string>;
  repair: (reason: string) => Promise<void>;
}

/** JetStream's answer for a stream or consumer the server does not have. */
function isNotFound(error: unknown): boolean {
  return error instanceof Error && /\bnot found\b/i.test(error.message);
}

/**
 * Adds the stream, or brings an existing one to this configuration. `max_age` 0 (no age limit):
 * retention is `pruneNatsStream`'s, which keeps what a durable consumer has not acknowledged; an older
 * deployment's stream with a 7-day limit is updated to it.
 */
async function ensureStream(jsm: JetStreamManager, stream: string, subjectPrefix: string): Promise<void> {
  const config = {
    subjects: [`${subjectPrefix}.>`],
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    max_age: 0,
  };
  await orUpdate(
    () => jsm.streams.add({ name: stream, ...config }),
    () => jsm.streams.update(stream, config),
  );
}

/**
 * Adding is idempotent for the same configuration; when it fails the resource exists with another
 * (an older deployment) and is updated in place. If that fails too, the add's error says why.
 */
async function orUpdate(add: () => Promise<unknown>, update: () => Promise<unknown>): Promise<void> {
  try {
    await add();
  } catch (addError) {
    await update().catch(() => {
      throw addError;
    });
  }
}

/** Messages deleted per pruning run (bounded work; a capped run is followed shortly by another), and requests in flight. */
const PRUNE_DELETES_PER_RUN_MAX = 100_000;
const PRUNE_DELETES_IN_FLIGHT = 256;

/** A value between `ms` −20% and +20%. */
function jittered(ms: number): number {
  return Math.round(ms * (1 - PRUNE_JITTER + 2 * PRUNE_JITTER * Math.random()));
}

export interface PruneOptions {
  olderThanSeconds: number;
  /** Most messages deleted by this run (default 100,000). */
  maxDeletes?: number;
  /** Asked between requests: when it answers true the run ends early (the transport is closing). */
  stopping?: () => boolean;
}

export interface PruneOutcome {
  deleted: number;
  /** The run stopped at `maxDeletes` with older messages left: run again soon. */
  capped: boolean;
  /**
   * Durable consumers whose first unacknowledged message is older than the retention: they keep
   * it, and every later one, from being pruned (an abandoned one keeps them for good).
   */
  staleConsumers: string[];
}

/**
 * Retention for the stream: deletes the messages stored more than `olderThanSeconds` ago, never
 * one a durable consumer has not acknowledged (at or above its ack floor + 1). Messages leave the
 * stream only from its start, so the first message newer than the cut-off is found by a binary
 * search over sequences. A failed request (timeout, reconnect) fails the run: it is never taken
 * for a message gone, which could move the cut past messages still inside the retention.
 *
 * Message by message, not a stream purge: nats-server before 2.9.15 drops every consumer's
 * unacknowledged (pending) state on any purge, so a message being handled when a purge ran was
 * never delivered again when its handler failed (nats-io/nats-server 6c9a9fb, "Fixed bug that
 * would lose ack pending state during partial stream purge"; Debian's 2.9.10 still has it).
 * Deleting a message touches only the consumers' pending counts.
 */
export async function pruneNatsStream(jsm: JetStreamManager, stream: string, options: PruneOptions): Promise<PruneOutcome> {
  const { maxDeletes = PRUNE_DELETES_PER_RUN_MAX, stopping = () => false } = options;
  const cutoff = Date.now() - options.olderThanSeconds * 1_000;
  const outcome: PruneOutcome = { deleted: 0, capped: false, staleConsumers: [] };
  const { state } = await jsm.streams.info(stream);
  if (state.messages === 0) return outcome;
  // Ordered consumers (live subscribers) are ephemeral: no durable name, no claim on history.
  let keepFrom = state.last_seq + 1;
  const durableFloors: { name: string; firstUnacked: number }[] = [];
  for await (const consumer of jsm.consumers.list(stream)) {
    if (!consumer.config.durable_name) continue;
    const firstUnacked = consumer.ack_floor.stream_seq + 1;
    keepFrom = Math.min(keepFrom, firstUnacked);
    durableFloors.push({ name: consumer.config.durable_name, firstUnacked });
  }
  // null: no message at that sequence (deleted meanwhile, by another instance); other failures throw.
  const storedAt = async (seq: number) => (await jsm.streams.getMessage(stream, { seq }))?.time.getTime() ?? null;
  for (const { name, firstUnacked } of durableFloors) {
    if (stopping()) return outcome;
    if (firstUnacked < state.first_seq || firstUnacked > state.last_seq) continue;
    const time = await storedAt(firstUnacked);
    if (time !== null && time < cutoff) outcome.staleConsumers.push(name);
  }
  // The first sequence in [first_seq, bound) stored at or after the cut-off, else the bound.
  const bound = Math.min(keepFrom, state.first_seq + maxDeletes);
  let low = state.first_seq;
  let high = bound;
  while (low < high) {
    if (stopping()) return outcome;
    const middle = Math.floor((low + high) / 2);
    const time = await storedAt(middle);
    // A message gone meanwhile (another instance pruned it) counts as old.
    if (time !== null && time >= cutoff) high = middle;
    else low = middle + 1;
  }
  for (let from = state.first_seq; from < low; from += PRUNE_DELETES_IN_FLIGHT) {
    if (stopping()) return outcome;
    const sequences = Array.from({ length: Math.min(PRUNE_DELETES_IN_FLIGHT, low - from) }, (_, index) => from + index);
    // Not erased (overwritten): the events are not secrets, and erasing costs a write each.
    const outcomes = await Promise.all(sequences.map((seq) => jsm.streams.deleteMessage(stream, seq, false).catch(() => false)));
    outcome.deleted += outcomes.filter(Boolean).length;
  }
  // Cut at the cap, not at a message inside the retention nor at a consumer's floor: more to delete.
  outcome.capped = low === bound && bound < keepFrom && outcome.deleted > 0;
  return outcome;
}

/** Subject tokens may not hold dots, spaces or wildcards. */
function subjectToken(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
}

function subjectOf(prefix: string, event: DomainEvent): string {
  return `${prefix}.${subjectToken(event.source)}.${subjectToken(event.aggregateType)}`;
}

/** NATS consumer names may not hold dots, spaces, wildcards or path separators. */
function natsConsumerName(durable: string): string {
  return durable.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * An ordered consumer created (on the server) before this resolves, starting after the stream's
 * last message. An explicit start sequence rather than deliver-policy `new`: when the ordered
 * consumer is recreated (after a reconnect or a gap), it resumes after the last message it saw,
 * whereas with `new` and no message seen yet it would restart from the stream's first message.
 */
async function consumeLive(context: ConsumeContext): Promise<ConsumerMessages> {
  const info = await context.jsm.streams.info(context.stream);
  const consumer = await context.js.consumers.get(context.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: info.state.last_seq + 1 });
  return consumer.consume();
}

/** Adds the durable consumer of that name, or brings an existing one to this configuration. */
async function ensureDurable(jsm: JetStreamManager, stream: string, name: string): Promise<void> {
  const config = { durable_name: name, deliver_policy: DeliverPolicy.All, ack_policy: AckPolicy.Explicit, max_ack_pending: 1, ack_wait: nanos(ACK_WAIT_MS) };
  await orUpdate(
    () => jsm.consumers.add(stream, config),
    () => jsm.consumers.update(stream, name, { max_ack_pending: config.max_ack_pending, ack_wait: config.ack_wait }),
  );
}

/**
 * The durable consumer of that name (created, or updated to this configuration), consumed. The
 * client keeps asking for messages while the server lacks the consumer or its stream (and resumes
 * once they exist again); each such notice asks for them to be recreated.
 */
async function consumeDurable(context: ConsumeContext, durable: string): Promise<ConsumerMessages> {
  const name = natsConsumerName(durable);
  await ensureDurable(context.jsm, context.stream, name);
  context.durables.add(name);
  const consumer = await context.js.consumers.get(context.stream, name);
  // Each pull lasts DURABLE_PULL_EXPIRES_MS (heartbeats at half of it): a consumer the server lost
  // (and that was recreated) is noticed within a few seconds, not the default 30 s.
  const messages = await consumer.consume({ max_messages: 1, expires: DURABLE_PULL_EXPIRES_MS });
  void (async () => {
    for await (const notice of messages.status()) {
      if (notice.type !== 'consumer_not_found' && notice.type !== 'stream_not_found' && notice.type !== 'consumer_deleted') continue;
      await context.repair(`consumer ${name} reported ${notice.type}`).catch((error: unknown) => context.logger.error({ err: error, consumer: name }, 'could not recreate the event stream or its consumers'));
    }
  })();
  return messages;
}

/** consumeDurable again after its consumption ended, retrying while the server cannot answer; null once stopped. */
async function reconsume(context: ConsumeContext, durable: string, stopped: () => boolean): Promise<ConsumerMessages | null> {
  for (let attempt = 1; !stopped(); attempt += 1) {
    try {
      return await consumeDurable(context, durable);
    } catch (error) {
      context.logger.warn({ err: error, consumer: durable, attempt }, 'could not consume the durable consumer again; retrying');
      await new Promise((resolve) => setTimeout(resolve, Math.min(250 * attempt, 5_000)));
    }
  }
  return null;
}

async function deliverLive(messages: ConsumerMessages, handler: EventHandler, logger: Logger): Promise<void> {
  for await (const message of messages) {
    try {
      await handler(message.json<DomainEvent>());
    } catch (error) {
      // Live subscribers are fan-out (the gateway): like the in-process transport, report and go on.
      logger.error({ err: error, subject: message.subject, streamSequence: message.seq }, 'event handler failed');
    }
  }
}

async function deliverDurable(messages: ConsumerMessages, handler: EventHandler, logger: Logger, durable: string): Promise<void> {
  for await (const message of messages) await handleDurable(message, handler, logger, durable);
}

async function handleDurable(message: JsMsg, handler: EventHandler, logger: Logger, durable: string): Promise<void> {
  let event: DomainEvent;
  try {
    event = message.json<DomainEvent>();
  } catch (error) {
    // Not an event this code wrote: redelivering it would block the consumer for good.
    logger.error({ err: error, consumer: durable, subject: message.subject }, 'unreadable event message terminated');
    message.term();
    return;
  }
  try {
    await whileWorking(message, () => handler(event));
  } catch (error) {
    const delayMs = retryDelayMs(message.info.deliveryCount);
    logger.error({ err: error, consumer: durable, eventId: event.id, retryInMs: delayMs }, 'event handler failed; the event comes again');
    message.nak(delayMs);
    return;
  }
  message.ack();
}

/** Tells the server a slow handler is still at it, so the message is not given to another instance meanwhile. */
async function whileWorking(message: JsMsg, work: () => void | Promise<void>): Promise<void> {
  const timer = setInterval(() => {
    // Throws on a closed or draining connection, from a timer: that would end the process. The
    // message then goes again after its ack wait (as it would with no progress reported).
    try {
      message.working();
    } catch {
      clearInterval(timer);
    }
  }, ACK_WAIT_MS / 3);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
}

/** Drains (pending acks and publishes go out), but never waits on the server for more than a few seconds. */
async function drainOrClose(nc: NatsConnection): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
  });
  const drained = nc.drain().then(
    () => 'drained' as const,
    () => 'failed' as const,
  );
  const outcome = await Promise.race([drained, timeout]);
  clearTimeout(timer);
  if (outcome !== 'drained' && !nc.isClosed()) await nc.close();
}
