/**
 * NATS JetStream: the transport for deployments that scale out, where consumers need not reach
 * the emitting services' database. Every event is a message of one stream
 * (`<prefix>.<source>.<aggregateType>`) kept for 7 days; its id is the JetStream message id, so a
 * relay that publishes the same events again (crash after publish, before marking) inside the
 * 2-minute duplicate window adds nothing to the stream.
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
}

const DUPLICATE_WINDOW_MS = 2 * 60_000;
const MAX_AGE_MS = 7 * 24 * 3_600_000;
const CLOSE_TIMEOUT_MS = 5_000;
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
  const context: ConsumeContext = { js, jsm, stream, logger };

  return {
    kind: 'nats',
    async publish(events) {
      // Each publish is written to the connection when called, so the stream stores them in order.
      await Promise.all(events.map((event) => js.publish(subjectOf(subjectPrefix, event), JSON.stringify(event), { msgID: event.id })));
    },
    async subscribe(handler, subscribeOptions: SubscribeOptions = {}): Promise<EventSubscription> {
      const { durable } = subscribeOptions;
      const messages = durable ? await consumeDurable(context, durable) : await consumeLive(context);
      const delivering = (durable ? deliverDurable(messages, handler, logger, durable) : deliverLive(messages, handler, logger)).catch((error: unknown) =>
        logger.error({ err: error, consumer: durable }, 'event subscription stopped'),
      );
      const subscription: EventSubscription = {
        async unsubscribe() {
          subscriptions.delete(subscription);
          await messages.close();
          // The handler call in progress finishes; no other starts.
          await delivering;
        },
      };
      subscriptions.add(subscription);
      return subscription;
    },
    async ready() {
      // A round trip to the server: false while disconnected (the caller bounds the wait).
      if (nc.isClosed()) return false;
      return nc.flush().then(() => true, () => false);
    },
    async close() {
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
}

/** Adds the stream, or brings an existing one to this configuration. */
async function ensureStream(jsm: JetStreamManager, stream: string, subjectPrefix: string): Promise<void> {
  const config = {
    subjects: [`${subjectPrefix}.>`],
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    max_age: nanos(MAX_AGE_MS),
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

/** The durable consumer of that name (created, or updated to this configuration), consumed. */
async function consumeDurable(context: ConsumeContext, durable: string): Promise<ConsumerMessages> {
  const name = natsConsumerName(durable);
  const config = { durable_name: name, deliver_policy: DeliverPolicy.All, ack_policy: AckPolicy.Explicit, max_ack_pending: 1, ack_wait: nanos(ACK_WAIT_MS) };
  await orUpdate(
    () => context.jsm.consumers.add(context.stream, config),
    () => context.jsm.consumers.update(context.stream, name, { max_ack_pending: config.max_ack_pending, ack_wait: config.ack_wait }),
  );
  const consumer = await context.js.consumers.get(context.stream, name);
  return consumer.consume({ max_messages: 1 });
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
  const timer = setInterval(() => message.working(), ACK_WAIT_MS / 3);
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
