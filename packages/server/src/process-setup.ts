/**
 * What every process of the platform sets up the same way, in one place: the bearer-token verifier
 * (against auth's published keys) and the event transport. `npm start` (@paygraph/platform), a
 * subgraph run alone (runStandalone, createRuntime) and the gateway run alone all build them here.
 */
import type { PlatformConfig } from '@paygraph/config';
import { waitForDatabase } from '@paygraph/db';
import { createEventTransport, type EventTransport } from '@paygraph/events';
import { ACCESS_TOKEN_TYPE, SERVICE_TOKEN_TYPE, createTokenVerifier, type TokenVerifier } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import { authKeySource, type ServiceDirectory } from '@paygraph/service-client';

type TokenType = typeof ACCESS_TOKEN_TYPE | typeof SERVICE_TOKEN_TYPE;

/**
 * Verifies bearer tokens against auth's JWKS (AUTH_JWKS_URL, or fetched over every auth instance
 * in the directory, with failover: authKeySource).
 * Built on first use: with port 0 the auth URL is known only once auth listens. Subgraphs accept
 * access and service tokens; the public gateway access tokens only.
 */
export function createPlatformTokenVerifier(
  config: Pick<PlatformConfig, 'AUTH_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE'>,
  directory: ServiceDirectory,
  options: { accept?: readonly TokenType[] } = {},
): TokenVerifier {
  let verifier: TokenVerifier | undefined;
  return (header) => {
    verifier ??= createTokenVerifier({
      ...authKeySource(directory, config.AUTH_JWKS_URL),
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      ...(options.accept ? { accept: options.accept } : {}),
    });
    return verifier(header);
  };
}

/** The gateway's verifier: access tokens only (a service credential is not a public login). */
export const gatewayTokenVerifier = (config: Pick<PlatformConfig, 'AUTH_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE'>, directory: ServiceDirectory) =>
  createPlatformTokenVerifier(config, directory, { accept: [ACCESS_TOKEN_TYPE] });

/**
 * The process's event transport: in memory on the embedded database, PostgreSQL LISTEN/NOTIFY with
 * DATABASE_URL, NATS with NATS_URL. On PostgreSQL it needs the database: start-up waits for it
 * (each attempt logged), as migrations do.
 */
export function openEventTransport(options: {
  env: NodeJS.ProcessEnv;
  config: Pick<PlatformConfig, 'DATABASE_STARTUP_WAIT_SECONDS'>;
  logger: Logger;
  /** Where the start-up wait is logged (by default the database logger). */
  waitLogger?: Logger;
}): Promise<EventTransport> {
  return waitForDatabase('event transport', () => createEventTransport({ env: options.env, logger: options.logger.child({ component: 'events' }) }), {
    waitMs: options.config.DATABASE_STARTUP_WAIT_SECONDS * 1000,
    // NATS or the database, whichever carries the events: a NATS server down is not a database down.
    dependency: 'event transport',
    ...(options.waitLogger ? { logger: options.waitLogger } : {}),
  });
}
