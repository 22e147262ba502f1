import { ConfigError, loadPlatformConfig, type PlatformConfig, type ServiceList } from '@paygraph/config';
import { resolveDatabaseTarget, restrictFileCreation, setDatabaseLogger, type DatabaseTarget, type QueryCounts } from '@paygraph/db';
import { weakSecretReason, type TokenVerifier } from '@paygraph/identity';
import type { EventTransport } from '@paygraph/events';
import type { Logger } from '@paygraph/logging';
import type { ServiceDirectory } from '@paygraph/service-client';
import type { SubgraphServer } from './subgraph-server';
import { createPlatformTokenVerifier } from './process-setup';
import { resolveServiceSecret } from './service-secret';

/** Everything a service needs from the process that runs it. */
export interface ServiceRuntime {
  config: PlatformConfig;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  directory: MutableServiceDirectory;
  serviceSecret: string;
  /**
   * The secrets accepted for service credentials and sealed values: the current one first, then
   * SERVICE_SECRET_PREVIOUS during a rotation.
   */
  serviceSecrets: readonly string[];
  /** Verifies bearer tokens against auth's published keys (JWKS). */
  verifyToken: TokenVerifier;
  databaseTarget(service: string): DatabaseTarget;
  /** Where services publish domain events; absent when no transport is configured. */
  events?: EventTransport;
}

export interface ServiceInstance {
  server: SubgraphServer;
  /** Runs once every service of the process is listening (e.g. seeding the first admin). */
  afterListen?(): Promise<void>;
  /** Releases what the service holds (database, timers) after its HTTP server stopped. */
  close(): Promise<void>;
}

export interface ServiceDefinition {
  name: string;
  create(runtime: ServiceRuntime): Promise<ServiceInstance>;
}

export interface MutableServiceDirectory extends ServiceDirectory {
  set(service: string, url: string): void;
  entries(): [string, string][];
}

export function createDirectory(services: ServiceList): MutableServiceDirectory {
  const urls = new Map(services.map((entry) => [entry.name, entry.url]));
  // Every instance of a service listed in <NAME>_URL; a later set() replaces them with one.
  const instances = new Map(services.map((entry) => [entry.name, entry.urls ?? [entry.url]]));
  return {
    url(service) {
      const url = urls.get(service);
      if (!url) throw new Error(`Service ${service} is not in the service list`);
      return url;
    },
    urls(service) {
      return instances.get(service) ?? [this.url(service)];
    },
    set(service, url) {
      urls.set(service, url);
      instances.set(service, [url]);
    },
    entries: () => [...urls.entries()],
  };
}

/**
 * In production (`NODE_ENV=production`) a secret that looks like a placeholder or carries little
 * entropy stops the process: every process that holds SERVICE_SECRET calls this at start-up, the
 * services (createRuntime) and the standalone gateway alike.
 */
export function refuseWeakSecrets(config: PlatformConfig): void {
  if (config.NODE_ENV !== 'production') return;
  for (const [name, secret] of [['SERVICE_SECRET', config.SERVICE_SECRET], ['SERVICE_SECRET_PREVIOUS', config.SERVICE_SECRET_PREVIOUS]] as const) {
    const reason = secret === undefined ? null : weakSecretReason(secret);
    if (reason) throw new ConfigError(`Invalid configuration: ${name} ${reason} (NODE_ENV=production)`);
  }
}

export function createRuntime(options: {
  env: NodeJS.ProcessEnv;
  services: ServiceList;
  logger: Logger;
  config?: PlatformConfig;
  /** Where a service's embedded database lives; by default all share DATA_DIR. */
  embeddedDataDir?: (service: string, dataDir: string) => string;
  /** A test's control: every service's statements are counted here. */
  queryCounts?: QueryCounts;
}): ServiceRuntime {
  const config = options.config ?? loadPlatformConfig(options.env);
  // Everything the process creates from here on (DATA_DIR, PGlite's files) is owner-only.
  restrictFileCreation();
  const directory = createDirectory(options.services);
  refuseWeakSecrets(config);
  const serviceSecret = resolveServiceSecret(config.SERVICE_SECRET, config.dataDir);
  // Start-up waits and reconnects are logged with the process's logger.
  setDatabaseLogger(options.logger.child({ component: 'db' }));
  const databaseTiming = {
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    startupWaitMs: config.DATABASE_STARTUP_WAIT_SECONDS * 1000,
    idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  };
  return {
    config,
    env: options.env,
    logger: options.logger,
    directory,
    serviceSecret,
    serviceSecrets: config.SERVICE_SECRET_PREVIOUS ? [serviceSecret, config.SERVICE_SECRET_PREVIOUS] : [serviceSecret],
    // Access and service tokens, checked against auth's keys (built on first use).
    verifyToken: createPlatformTokenVerifier(config, directory),
    databaseTarget: (service) => ({
      ...resolveDatabaseTarget(service, options.env, options.embeddedDataDir?.(service, config.dataDir) ?? config.dataDir, config.DATABASE_POOL_MAX, databaseTiming),
      ...(options.queryCounts ? { queryCounts: options.queryCounts } : {}),
    }),
  };
}
