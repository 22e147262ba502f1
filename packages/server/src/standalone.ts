import path from 'node:path';
import { ConfigError, loadServiceList } from '@paygraph/config';
import { closeSharedDatabases } from '@paygraph/db';
import { createLogger, lifecycleLogger } from '@paygraph/logging';
import { startTracing } from '@paygraph/telemetry';
import { listen } from './listen';
import { openEventTransport } from './process-setup';
import { runProcess } from './process';
import { createRuntime, type ServiceDefinition } from './service';

/**
 * Runs one service as its own process (`npm start -w subgraphs/<name>`): its port and the other
 * services' URLs come from the service list and the environment; the embedded database of a
 * service started alone lives in DATA_DIR/<name> so it never collides with `npm start`'s.
 */
export async function runStandalone(definition: ServiceDefinition, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const logger = createLogger({ name: definition.name });
  await runProcess(logger, async () => {
    const services = loadServiceList(env);
    const entry = services.find((service) => service.name === definition.name);
    if (!entry) throw new ConfigError(`Invalid configuration: ${definition.name} is not in schema/supergraph.yaml`);
    // Traces only when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (@paygraph/telemetry), before the database opens.
    const tracing = await startTracing(env, { service: definition.name });
    const runtime = createRuntime({
      env,
      services,
      logger,
      embeddedDataDir: (service, dataDir) => (dataDir.startsWith('memory://') ? dataDir : path.join(dataDir, service)),
    });
    // A service alone shares events through PostgreSQL (DATABASE_URL) or NATS (NATS_URL); the
    // in-process transport reaches only this process.
    // On PostgreSQL the transport needs the database: start-up waits for it, as migrations do.
    const events = await openEventTransport({ env, config: runtime.config, logger });
    runtime.events = events;
    const instance = await definition.create(runtime);
    const listening = await listen(instance.server.app, entry.port, runtime.config.HOST);
    const url = `http://${runtime.config.HOST}:${listening.port}/graphql`;
    lifecycleLogger(logger).info({ subgraph: definition.name, url }, `${definition.name} subgraph ready at ${url} (listening)`);
    await instance.afterListen?.();
    return async () => {
      await listening.close();
      await instance.server.stop();
      await instance.close();
      await events.close();
      await closeSharedDatabases();
      await tracing?.shutdown();
    };
  });
}
