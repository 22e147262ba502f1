/**
 * The ledger subgraph as a value: the money truth (double-entry, holds, hash chain), and a sweep
 * that releases expired holds.
 */
import { openServiceDatabase } from '@paygraph/db';
import { createSubgraphServer, subgraphFiles, type ServiceDefinition } from '@paygraph/server';
import { createContext } from './context';
import { schema } from './db/schema';
import { resolvers } from './resolvers';
import { createLedgerStore } from './store/ledger-store';

export const { typeDefs, migrationsFolder } = subgraphFiles(import.meta.url);
/** How often expired holds are released. */
export const HOLD_SWEEP_INTERVAL_MS = 60_000;

export const ledgerService: ServiceDefinition = {
  name: 'ledger',
  async create(runtime) {
    const logger = runtime.logger.child({ service: 'ledger' });
    const database = await openServiceDatabase({ service: 'ledger', target: runtime.databaseTarget('ledger'), schema, migrationsFolder });
    const store = createLedgerStore(database);
    const server = await createSubgraphServer({
      name: 'ledger',
      typeDefs,
      resolvers,
      verifyToken: runtime.verifyToken,
      serviceSecrets: runtime.serviceSecrets,
      logger,
      extendContext: (base) => createContext(base, store, database.db),
    });
    let sweep: NodeJS.Timeout | undefined;
    return {
      server,
      async afterListen() {
        sweep = setInterval(() => {
          store.expireHolds(new Date()).catch((error: unknown) => logger.error({ err: error }, 'hold expiry sweep failed'));
        }, HOLD_SWEEP_INTERVAL_MS);
        sweep.unref();
      },
      async close() {
        clearInterval(sweep);
        await database.close();
      },
    };
  },
};
