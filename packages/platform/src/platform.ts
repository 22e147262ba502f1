/**
 * The whole platform in one process, as `npm start` runs it: every subgraph of the service list on
 * its own port, then the gateway. The end-to-end tests start it the same way.
 */
import type { RequestListener } from 'node:http';
import { ConfigError, loadLimitSettings, loadPlatformConfig, loadServiceList, type PlatformConfig } from '@paygraph/config';
import { closeSharedDatabases, type QueryCounts } from '@paygraph/db';
import { createGateway } from '@paygraph/gateway';
import type { Logger } from '@paygraph/logging';
import { createRuntime, gatewayTokenVerifier, listen, openEventTransport, type Listening, type ServiceDefinition, type ServiceInstance } from '@paygraph/server';
import { startTracing } from '@paygraph/telemetry';
import { authService } from '@paygraph/auth';
import { ledgerService } from '@paygraph/ledger';
import { notificationsService } from '@paygraph/notifications';
import { paymentsService } from '@paygraph/payments';
import { riskService } from '@paygraph/risk';
import { usersService } from '@paygraph/users';
import { walletService } from '@paygraph/wallet';

/** Every subgraph implemented in this repository, by its name in schema/supergraph.yaml. */
export const serviceDefinitions: Readonly<Record<string, ServiceDefinition>> = {
  users: usersService,
  auth: authService,
  ledger: ledgerService,
  wallet: walletService,
  risk: riskService,
  payments: paymentsService,
  notifications: notificationsService,
};

export interface RunningSubgraph {
  name: string;
  url: string;
  port: number;
  /** Stops this subgraph's HTTP server (its database stays open until the platform stops). */
  stop(): Promise<void>;
  /** Listens again on the same port after stop(). */
  restart(): Promise<void>;
}

export interface Platform {
  config: PlatformConfig;
  /** Null when started with `gateway: false` (subgraph integration tests). */
  gatewayUrl: string | null;
  subgraphs: Map<string, RunningSubgraph>;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** False starts the subgraphs only (subgraph integration tests). */
  gateway?: boolean;
  /**
   * Definitions to use instead of serviceDefinitions, by name: how a test hands a service its test
   * controls (e.g. payments created with its fault checkpoints) instead of module globals.
   */
  services?: Partial<Record<string, ServiceDefinition>>;
  /**
   * Starts only these subgraphs (a subgraph's integration tests: the subgraph and the services it
   * talks to); needs `gateway: false`. Any other service is reached at its fake when `fakes` has
   * one, else at a closed port (a call to it fails at once, as to a service that is down).
   */
  only?: readonly string[];
  /** A test's control: statements sent by every service, counted by service. */
  queryCounts?: QueryCounts;
  /** Stand-ins for services that are not started, by name: served on a free port of their own. */
  fakes?: Readonly<Record<string, RequestListener>>;
}

/** Where a service that was not started is "reached": a closed port, so a call fails at once. */
const NOT_STARTED_URL = 'http://127.0.0.1:1/graphql';

export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const { env, logger } = options;
  const config = loadPlatformConfig(env);
  const services = loadServiceList(env);
  const runtime = createRuntime({ env, services, logger, config, ...(options.queryCounts ? { queryCounts: options.queryCounts } : {}) });
  // Traces only when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (@paygraph/telemetry), each service's
  // spans under its own service.name; started before the databases open so their SQL is traced.
  const tracing = await startTracing(env, { service: null });
  if (options.only && options.gateway !== false) throw new Error('startPlatform: `only` starts some subgraphs, which the gateway cannot compose: pass gateway: false');
  // In memory on the embedded database; PostgreSQL LISTEN/NOTIFY with DATABASE_URL; NATS with NATS_URL.
  const events = await openEventTransport({ env, config, logger });
  runtime.events = events;

  const instances: { name: string; instance: ServiceInstance; port: number }[] = [];
  const subgraphs = new Map<string, RunningSubgraph>();
  const listeners = new Map<string, Listening | null>();
  const stopAll = async () => {
    for (const [, listening] of listeners) await listening?.close().catch(() => {});
    for (const { instance } of instances) {
      await instance.server.stop().catch(() => {});
      await instance.close().catch(() => {});
    }
    await events.close();
    await closeSharedDatabases();
    await tracing?.shutdown(); // exports the spans still pending
  };

  try {
    for (const [name, fake] of Object.entries(options.fakes ?? {})) {
      const listening = await listen(fake, 0, '127.0.0.1');
      listeners.set(`fake:${name}`, listening);
      runtime.directory.set(name, `http://127.0.0.1:${listening.port}/graphql`);
    }
    for (const entry of services) {
      if (options.only && !options.only.includes(entry.name)) {
        if (!options.fakes?.[entry.name]) runtime.directory.set(entry.name, NOT_STARTED_URL);
        continue;
      }
      const definition = options.services?.[entry.name] ?? serviceDefinitions[entry.name];
      if (!definition) throw new ConfigError(`Invalid configuration: schema/supergraph.yaml lists ${entry.name}, which this repository does not implement`);
      instances.push({ name: entry.name, instance: await definition.create(runtime), port: entry.port });
    }
    for (const { name, instance, port } of instances) {
      const listening = await listen(instance.server.app, port, config.HOST);
      listeners.set(name, listening);
      // A port of 0 means "any free port": the real one is known only now.
      const url = port === 0 ? `http://127.0.0.1:${listening.port}/graphql` : runtime.directory.url(name);
      runtime.directory.set(name, url);
      subgraphs.set(name, {
        name,
        url,
        port: listening.port,
        stop: async () => {
          await listeners.get(name)?.close();
          listeners.set(name, null);
        },
        restart: async () => {
          if (listeners.get(name)) return;
          listeners.set(name, await listen(instance.server.app, listening.port, config.HOST));
        },
      });
    }
    for (const { instance } of instances) await instance.afterListen?.();
  } catch (error) {
    await stopAll();
    throw error;
  }

  if (options.gateway === false) return { config, gatewayUrl: null, subgraphs, stop: stopAll };

  const subgraphList = () => runtime.directory.entries().map(([name, url]) => ({ name, url }));
  let gateway;
  let gatewayListening: Listening;
  try {
    gateway = await createGateway({
      config,
      subgraphs: subgraphList,
      verifyToken: gatewayTokenVerifier(config, runtime.directory),
      logger: logger.child({ service: 'gateway' }),
      events,
      serviceSecret: runtime.serviceSecret,
      // The platform's environment, not the process's: a test's REQUEST_TIMEOUT_MS reaches the gateway.
      limits: loadLimitSettings(env),
    });
    gatewayListening = await listen(gateway.app, config.PORT, config.HOST);
    gateway.attachSubscriptions(gatewayListening.server);
  } catch (error) {
    await stopAll();
    throw error;
  }
  const gatewayHost = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
  const started = gateway;
  return {
    config,
    gatewayUrl: `http://${gatewayHost}:${gatewayListening.port}/graphql`,
    subgraphs,
    stop: async () => {
      await started.stop();
      await gatewayListening.close();
      await stopAll();
    },
  };
}
