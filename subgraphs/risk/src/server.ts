/** The risk subgraph as a value: a check on every payment attempt, versioned and replayable. */
import { createOutboxAuditRecorder } from '@paygraph/audit';
import { openServiceDatabase } from '@paygraph/db';
import { createServiceClient } from '@paygraph/service-client';
import { createSubgraphServer, lookupCache, subgraphFiles, type ServiceDefinition } from '@paygraph/server';
import { BUYER_CACHE_TTL_MS, type Buyer } from './assess';
import { createContext } from './context';
import { schema } from './db/schema';
import { resolvers } from './resolvers';
import { createRiskStore } from './store/risk-store';

export const { typeDefs, migrationsFolder } = subgraphFiles(import.meta.url);

export const riskService: ServiceDefinition = {
  name: 'risk',
  async create(runtime) {
    const logger = runtime.logger.child({ service: 'risk' });
    const database = await openServiceDatabase({ service: 'risk', target: runtime.databaseTarget('risk'), schema, migrationsFolder });
    const store = createRiskStore(database);
    const users = createServiceClient({ service: 'risk', serviceSecret: runtime.serviceSecret, directory: runtime.directory });
    // Durable: kept in risk.audit_outbox until users accepts it (packages/audit outbox.ts).
    const audit = createOutboxAuditRecorder({ source: 'risk', query: database.query, client: users, logger });
    const buyers = lookupCache<Buyer | null>({ ttlMs: BUYER_CACHE_TTL_MS, entriesMax: 10_000 });
    const server = await createSubgraphServer({
      name: 'risk',
      typeDefs,
      resolvers,
      verifyToken: runtime.verifyToken,
      serviceSecrets: runtime.serviceSecrets,
      logger,
      extendContext: (base) => createContext(base, store, users, buyers, audit),
    });
    return {
      server,
      // The relay starts once users listens (every service of the process does by now).
      afterListen: async () => audit.start(),
      close: async () => {
        await audit.stop();
        await database.close();
      },
    };
  },
};
