/**
 * The users subgraph as a value: `npm start` and the tests create it the same way.
 */
import { openServiceDatabase } from '@paygraph/db';
import { serviceOutbox } from '@paygraph/events';
import { clientAddressOf } from '@paygraph/identity';
import { createServiceClient } from '@paygraph/service-client';
import { createSubgraphServer, subgraphFiles, type ServiceDefinition } from '@paygraph/server';
import { createContext } from './context';
import { schema } from './db/schema';
import { normalizeEmail } from './domain/validation';
import { registerUser } from './register';
import { resolvers } from './resolvers';
import { createUsersStore } from './store/users-store';
import { createRegistrationThrottle } from './throttle';

const { typeDefs, migrationsFolder } = subgraphFiles(import.meta.url);

export const usersService: ServiceDefinition = {
  name: 'users',
  async create(runtime) {
    const logger = runtime.logger.child({ service: 'users' });
    const database = await openServiceDatabase({ service: 'users', target: runtime.databaseTarget('users'), schema, migrationsFolder });
    const outbox = serviceOutbox('users', database);
    const store = createUsersStore({ db: database.db, transaction: outbox.transaction });
    const auth = createServiceClient({ service: 'users', serviceSecret: runtime.serviceSecret, directory: runtime.directory });
    const throttle = createRegistrationThrottle(runtime.config, logger);
    const server = await createSubgraphServer({
      name: 'users',
      typeDefs,
      resolvers,
      verifyToken: runtime.verifyToken,
      serviceSecrets: runtime.serviceSecrets,
      logger,
      extendContext: (base, request) => createContext(base, store, auth, { throttle, clientAddress: clientAddressOf(request, runtime.serviceSecret) }),
    });
    return {
      server,
      async afterListen() {
        if (runtime.events) outbox.start(runtime.events, { logger, intervalMs: runtime.config.EVENT_RELAY_INTERVAL_MS, retentionSeconds: runtime.config.EVENT_RETENTION_SECONDS });
        const { ADMIN_EMAIL: email, ADMIN_PASSWORD: password } = runtime.config;
        if (!email || !password) return;
        await seedFirstAdmin({ store, auth, logger }, email, password);
      },
      async close() {
        await outbox.stop();
        await throttle.close();
        await database.close();
      },
    };
  },
};

/** Creates the first admin from ADMIN_EMAIL / ADMIN_PASSWORD once; later starts leave it alone. */
async function seedFirstAdmin(deps: Parameters<typeof registerUser>[0], email: string, password: string): Promise<void> {
  const normalized = normalizeEmail(email, 'ADMIN_EMAIL');
  if (await deps.store.findByEmail(normalized)) return;
  try {
    await registerUser(deps, { email: normalized, password, name: 'Administrator', role: 'ADMIN' });
    deps.logger.info({ email: normalized }, 'first admin created');
  } catch (error) {
    // Another instance starting at the same moment may have created it first.
    if (await deps.store.findByEmail(normalized)) return;
    throw error;
  }
}
