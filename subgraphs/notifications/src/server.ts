/**
 * The notifications subgraph as a value: a durable consumer of payments' and users' events
 * (notifications per user and channel, webhook deliveries per merchant endpoint, each event
 * applied once), a delivery worker with retries, and the API over them (`notifications`,
 * `markNotificationRead`, preferences, webhook endpoints).
 *
 * Settings come from the environment through `loadNotificationSettings` (src/settings.ts).
 */
import { createOutboxAuditRecorder, secretResealedEntry } from '@paygraph/audit';
import { openServiceDatabase } from '@paygraph/db';
import { consumerProgress, pruneInbox, type DomainEvent, type EventSubscription } from '@paygraph/events';
import { createServiceClient } from '@paygraph/service-client';
import { createSubgraphServer, subgraphFiles, type ServiceDefinition } from '@paygraph/server';
import { traceEvent, tracingOn } from '@paygraph/telemetry';
import { createEventConsumer, type EventConsumer } from './consumer';
import { createContext } from './context';
import { schema } from './db/schema';
import { createProviders } from './delivery/providers';
import { createDeliveryWorker, type DeliveryWorker } from './delivery/worker';
import { resolvers } from './resolvers';
import { loadNotificationSettings } from './settings';
import { CONSUMER, createNotificationsStore } from './store/notifications-store';
import { createWebhookAgent, systemResolveAll, type ResolveAll } from './webhooks/egress';
import { createSecretSealer, WEBHOOK_SECRET_SEAL_PURPOSE } from './webhooks/secrets';

export const { typeDefs, migrationsFolder } = subgraphFiles(import.meta.url);

export { verifyWebhookSignature, signWebhookPayload, standardWebhookHeaders, SIGNATURE_HEADER } from './webhooks/signature';
export { developmentDeliveries, type DeliveryProvider, type OutgoingMessage, type RecordedDelivery } from './delivery/providers';
export { loadNotificationSettings, type NotificationSettings } from './settings';

/**
 * Test-only: the running service's event consumer and delivery worker (one notifications service
 * per process at a time in tests), to apply an event by hand or run a delivery pass now.
 */
export const notificationsHandle: { consumer: EventConsumer | null; worker: DeliveryWorker | null } = { consumer: null, worker: null };

/**
 * Test-only: a resolver the next notifications service started uses for webhook hosts instead of
 * the system's (to make a name resolve to 127.0.0.1, or change its answer between registration
 * and send: DNS rebinding). Null: the system resolver.
 */
export const webhookEgress: { resolveAll: ResolveAll | null } = { resolveAll: null };

/** The test resolver when one is set (read at each lookup, so a test can change answers), else the system's. */
const egressResolveAll: ResolveAll = (hostname) => (webhookEgress.resolveAll ?? systemResolveAll)(hostname);

/** How often processed event ids past retention are forgotten. */
const INBOX_PRUNE_INTERVAL_MS = 10 * 60_000;

export const notificationsService: ServiceDefinition = {
  name: 'notifications',
  async create(runtime) {
    const logger = runtime.logger.child({ service: 'notifications' });
    const settings = loadNotificationSettings(runtime.env, runtime.config.NODE_ENV);
    const database = await openServiceDatabase({ service: 'notifications', target: runtime.databaseTarget('notifications'), schema, migrationsFolder });
    const store = createNotificationsStore(database);
    const sealer = createSecretSealer(runtime.serviceSecrets);
    const providers = createProviders({ smtpUrl: settings.smtpUrl, smtpFrom: settings.smtpFrom, logger });
    const webhookAgent = createWebhookAgent({ privateAddressesAllowed: settings.webhookPrivateAddressesAllowed, connectTimeoutMs: settings.webhookTimeoutMs, resolveAll: egressResolveAll });
    if (settings.webhookPrivateAddressesAllowed) logger.warn('WEBHOOK_PRIVATE_ADDRESSES=allow: webhooks may reach loopback and private addresses (development and tests only)');
    const worker = createDeliveryWorker({ store, providers, sealer, settings, logger, webhookAgent });
    const users = createServiceClient({ service: 'notifications', serviceSecret: runtime.serviceSecret, directory: runtime.directory });
    // Durable: kept in notifications.audit_outbox until users accepts it (packages/audit outbox.ts).
    const audit = createOutboxAuditRecorder({ source: 'notifications', query: database.query, client: users, logger });
    const consumer = createEventConsumer({ store, users, logger, onDeliveriesCreated: () => worker.kick() });
    const server = await createSubgraphServer({
      name: 'notifications',
      typeDefs,
      resolvers,
      verifyToken: runtime.verifyToken,
      serviceSecrets: runtime.serviceSecrets,
      logger,
      // A consumer that cannot receive events is not ready (/ready asks the transport too).
      readinessChecks: { events: async () => (await runtime.events?.ready?.()) ?? true },
      extendContext: (base) => createContext(base, { store, settings, sealer, resolveAll: egressResolveAll, audit, kickWorker: () => worker.kick() }),
    });
    let subscription: EventSubscription | undefined;
    // The consumer's position per source, events applied and their age on /metrics (consumer lag).
    const progress = consumerProgress('notifications', CONSUMER);
    // Retention of the inbox (processed event ids), as the outboxes prune theirs.
    const retentionSeconds = runtime.config.EVENT_RETENTION_SECONDS;
    const pruneTimer = setInterval(() => {
      pruneInbox(database.query, 'notifications', retentionSeconds).catch((error: unknown) => logger.error({ err: error }, 'inbox pruning failed'));
    }, INBOX_PRUNE_INTERVAL_MS);
    pruneTimer.unref();
    notificationsHandle.consumer = consumer;
    notificationsHandle.worker = worker;
    return {
      server,
      async afterListen() {
        worker.start();
        audit.start();
        // A SERVICE_SECRET rotation in progress: merchants' signing secrets sealed under the
        // previous secret are sealed again under the current one (README, "Rotating SERVICE_SECRET").
        if (runtime.serviceSecrets.length > 1) {
          store
            .resealEndpointSecrets(sealer)
            .then(async (resealed) => {
              if (resealed === 0) return;
              logger.info({ resealed }, 'webhook signing secrets sealed again under the current SERVICE_SECRET');
              await audit.record({ logger }, secretResealedEntry('notifications', WEBHOOK_SECRET_SEAL_PURPOSE, resealed));
            })
            .catch(async (error: unknown) => {
              logger.error({ err: error }, 'webhook signing secrets could not be sealed again; they stay readable while SERVICE_SECRET_PREVIOUS is set');
              await audit.record({ logger }, secretResealedEntry('notifications', WEBHOOK_SECRET_SEAL_PURPOSE, 0, 'FAILURE'));
            });
        }
        // After every service listens: applying an event may ask users about a recipient.
        // Each event applied in a span continuing the trace of the request that wrote it (while
        // tracing is on). Otherwise a transport that reads batches (PostgreSQL) hands the consumer a
        // batch at a time: the payment events of known users go in one read and one write.
        const handleEvent = (event: DomainEvent) => traceEvent('notifications', event, () => consumer.handle(event)).then(() => progress.applied(event));
        const handleBatch = async (events: readonly DomainEvent[]) => {
          if (tracingOn()) {
            for (const event of events) await handleEvent(event);
            return;
          }
          await consumer.handleBatch(events);
          for (const event of events) progress.applied(event);
        };
        if (runtime.events) subscription = await runtime.events.subscribe(handleEvent, { durable: CONSUMER, handleBatch });
        else logger.warn('no event transport: notifications consumes no events');
      },
      async close() {
        clearInterval(pruneTimer);
        await subscription?.unsubscribe();
        progress.stop();
        await worker.stop();
        await webhookAgent.close();
        for (const provider of providers.values()) provider.close?.();
        if (notificationsHandle.consumer === consumer) Object.assign(notificationsHandle, { consumer: null, worker: null });
        await audit.stop();
        await database.close();
      },
    };
  },
};
