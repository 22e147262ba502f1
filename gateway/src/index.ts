/**
 * The gateway as its own process (`npm start -w gateway`): subgraphs are reached at the URLs of
 * the service list (with <NAME>_URL overrides), tokens are checked against auth's JWKS.
 */
import { loadPlatformConfig, loadServiceList } from '@paygraph/config';
import { createLogger, lifecycleLogger } from '@paygraph/logging';
import { gatewayTokenVerifier, listen, openEventTransport, refuseWeakSecrets, resolveServiceSecret, runProcess } from '@paygraph/server';
import { startTracing } from '@paygraph/telemetry';
import { createGateway } from './gateway';

const logger = createLogger({ name: 'gateway' });
await runProcess(logger, async () => {
  const config = loadPlatformConfig(process.env);
  // The gateway mints credentials from SERVICE_SECRET too: production refuses a weak one here as the services do.
  refuseWeakSecrets(config);
  // Traces only when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (@paygraph/telemetry).
  const tracing = await startTracing(process.env, { service: 'gateway' });
  const services = loadServiceList(process.env);
  const entryOf = (name: string) => services.find((service) => service.name === name)!;
  // Every instance of a service (<NAME>_URL=a,b): auth's keys are fetched over all of them too.
  const directory = { url: (name: string) => entryOf(name).url, urls: (name: string) => entryOf(name).urls };
  // Subscriptions need events from the payments service's process: a shared transport
  // (DATABASE_URL for PostgreSQL LISTEN/NOTIFY, or NATS_URL); in-process sees none.
  // On PostgreSQL the transport needs the database: start-up waits for it (each attempt logged).
  const events = await openEventTransport({ env: process.env, config, logger, waitLogger: logger });
  if (events.kind === 'in-process') logger.warn('no shared event transport (set DATABASE_URL or NATS_URL): subscriptions receive no events');
  const gateway = await createGateway({
    config,
    subgraphs: () => services,
    verifyToken: gatewayTokenVerifier(config, directory),
    logger,
    events,
    serviceSecret: resolveServiceSecret(config.SERVICE_SECRET, config.dataDir),
  });
  const listening = await listen(gateway.app, config.PORT, config.HOST);
  gateway.attachSubscriptions(listening.server);
  const url = `http://${config.HOST}:${listening.port}/graphql`;
  lifecycleLogger(logger).info({ url }, `Gateway ready at ${url} (listening)`);
  return async () => {
    await gateway.stop();
    await listening.close();
    await events.close();
    await tracing?.shutdown();
  };
});
