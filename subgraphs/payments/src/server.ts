/**
 * The payments subgraph as a value: orders, payments and refunds over risk and the ledger, with a
 * recovery pass at start-up and on a timer.
 */
import { createOutboxAuditRecorder } from '@paygraph/audit';
import { openServiceDatabase } from '@paygraph/db';
import { serviceOutbox } from '@paygraph/events';
import { createServiceClient } from '@paygraph/service-client';
import { createSubgraphServer, subgraphFiles, type ServiceDefinition } from '@paygraph/server';
import { createContext } from './context';
import { schema } from './db/schema';
import type { FlowDeps } from './deps';
import type { FaultInjection } from './faults';
import { recover } from './saga/recovery';
import { createServiceCaches } from './services';
import { resolvers } from './resolvers';
import { createPaymentsStore } from './store/payments-store';

export const { typeDefs, migrationsFolder } = subgraphFiles(import.meta.url);

/** A payment untouched this long while unfinished is taken over by the recovery pass. */
export const RECOVERY_GRACE_MS = 30_000;

/** Test-only: set by the service it is given to, runs a recovery pass of that running service. */
export interface RecoveryHandle {
  run: ((untouchedSince?: Date) => ReturnType<typeof recover>) | null;
}

export const createRecoveryHandle = (): RecoveryHandle => ({ run: null });

/** Test controls, passed in where the service is created; production passes none. */
export interface PaymentsServiceOptions {
  /** Where the flow stops as if the process crashed (tests of recovery). */
  faults?: FaultInjection;
  /** Filled in at creation with a way to run a recovery pass on demand. */
  recovery?: RecoveryHandle;
}

export function createPaymentsService(options: PaymentsServiceOptions = {}): ServiceDefinition {
  return {
    name: 'payments',
    async create(runtime) {
      const logger = runtime.logger.child({ service: 'payments' });
      const database = await openServiceDatabase({ service: 'payments', target: runtime.databaseTarget('payments'), schema, migrationsFolder });
      const outbox = serviceOutbox('payments', database);
      const store = createPaymentsStore({ ...database, transaction: outbox.transaction });
      const client = createServiceClient({ service: 'payments', serviceSecret: runtime.serviceSecret, directory: runtime.directory });
      // Durable: kept in payments.audit_outbox until users accepts it (packages/audit outbox.ts).
      const audit = createOutboxAuditRecorder({ source: 'payments', query: database.query, client, logger });
      const flow: FlowDeps = {
        store,
        services: { client, caches: createServiceCaches() },
        settings: { holdExpiryMs: runtime.config.PAYMENT_HOLD_EXPIRY_SECONDS * 1000, reviewExpiryMs: runtime.config.PAYMENT_REVIEW_EXPIRY_SECONDS * 1000 },
        logger,
        audit,
        ...(options.faults ? { faults: options.faults } : {}),
      };
      const server = await createSubgraphServer({
        name: 'payments',
        typeDefs,
        resolvers,
        verifyToken: runtime.verifyToken,
        serviceSecrets: runtime.serviceSecrets,
        logger,
        extendContext: (base) => createContext(base, flow),
      });
      let timer: NodeJS.Timeout | undefined;
      let running: Promise<unknown> = Promise.resolve();
      const pass = (untouchedSince: Date) => {
        running = running.then(() => recover(flow, untouchedSince)).catch((error: unknown) => logger.error({ err: error }, 'recovery pass failed'));
        return running as ReturnType<typeof recover>;
      };
      if (options.recovery) options.recovery.run = (untouchedSince = new Date()) => pass(untouchedSince);
      return {
        server,
        async afterListen() {
          audit.start();
          // Start-up: everything unfinished, whatever its age (this instance was down).
          void pass(new Date());
          timer = setInterval(() => void pass(new Date(Date.now() - RECOVERY_GRACE_MS)), runtime.config.PAYMENT_RECOVERY_INTERVAL_MS);
          timer.unref();
          if (runtime.events) outbox.start(runtime.events, { logger, intervalMs: runtime.config.EVENT_RELAY_INTERVAL_MS, retentionSeconds: runtime.config.EVENT_RETENTION_SECONDS });
        },
        async close() {
          clearInterval(timer);
          await outbox.stop();
          await running;
          await audit.stop();
          await database.close();
        },
      };
    },
  };
}

/** The payments service as production runs it. */
export const paymentsService: ServiceDefinition = createPaymentsService();
