/** The wallet subgraph as a value: users' wallets on top of ledger accounts. */
import { openServiceDatabase } from '@paygraph/db';
import { createServiceClient } from '@paygraph/service-client';
import { createSubgraphServer, subgraphFiles, type ServiceDefinition } from '@paygraph/server';
import { createContext } from './context';
import { schema } from './db/schema';
import { resolvers } from './resolvers';
import { systemAccountsCache } from './funds';
import { createWalletStore } from './store/wallet-store';

const { typeDefs, migrationsFolder } = subgraphFiles(import.meta.url);

export const walletService: ServiceDefinition = {
  name: 'wallet',
  async create(runtime) {
    const logger = runtime.logger.child({ service: 'wallet' });
    const database = await openServiceDatabase({ service: 'wallet', target: runtime.databaseTarget('wallet'), schema, migrationsFolder });
    const store = createWalletStore(database.db);
    const ledger = createServiceClient({ service: 'wallet', serviceSecret: runtime.serviceSecret, directory: runtime.directory });
    const systemAccounts = systemAccountsCache();
    const server = await createSubgraphServer({
      name: 'wallet',
      typeDefs,
      resolvers,
      verifyToken: runtime.verifyToken,
      serviceSecrets: runtime.serviceSecrets,
      logger,
      extendContext: (base) => createContext(base, store, ledger, systemAccounts),
    });
    return { server, close: () => database.close() };
  },
};
