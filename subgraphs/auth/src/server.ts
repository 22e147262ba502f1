/**
 * The auth subgraph as a value: sessions over GraphQL, plus two HTTP routes: the public keys
 * (JWKS) every verifier reads, and the service-token exchange for service credentials.
 */
import express from 'express';
import { createOutboxAuditRecorder, secretResealedEntry } from '@paygraph/audit';
import { openServiceDatabase } from '@paygraph/db';
import { ACCESS_TOKEN_TYPE, SERVICE_SCOPES, SERVICE_TOKEN_TYPE, clientAddressOf, createTokenVerifier, verifyServiceCredential } from '@paygraph/identity';
import { createServiceClient } from '@paygraph/service-client';
import { createSubgraphServer, subgraphFiles, type ServiceDefinition } from '@paygraph/server';
import { schema } from './db/schema';
import { LOGIN_LOCK_SECONDS_MAX, type LoginThrottleSettings } from './domain/throttle';
import { loadSigningKey, localKeySet, SIGNING_KEY_SEAL_PURPOSE } from './keys';
import { resolvers } from './resolvers';
import type { SessionDeps } from './sessions';
import { createAuthStore } from './store/auth-store';
import { signServiceToken } from './tokens';

export const { typeDefs, migrationsFolder } = subgraphFiles(import.meta.url);

export const authService: ServiceDefinition = {
  name: 'auth',
  async create(runtime) {
    const logger = runtime.logger.child({ service: 'auth' });
    const { config } = runtime;
    const database = await openServiceDatabase({ service: 'auth', target: runtime.databaseTarget('auth'), schema, migrationsFolder });
    const signingKey = await loadSigningKey(database.db, runtime.serviceSecrets);
    // A SERVICE_SECRET rotation's step 2 (README, "Rotating SERVICE_SECRET"): the key was sealed again under the current secret.
    if (signingKey.resealed) logger.info({ kid: signingKey.kid, purpose: SIGNING_KEY_SEAL_PURPOSE }, 'token signing key sealed again under the current SERVICE_SECRET');
    const settings = {
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
    };
    let ownToken: { token: string; renewAt: number } | null = null;
    const users = createServiceClient({
      service: 'auth',
      serviceSecret: runtime.serviceSecret,
      directory: runtime.directory,
      // auth signs its own service token rather than asking itself over HTTP.
      tokenProvider: async () => {
        if (ownToken && Date.now() < ownToken.renewAt) return ownToken.token;
        const signed = await signServiceToken(signingKey, settings, 'auth', SERVICE_SCOPES.auth ?? []);
        ownToken = { token: signed.token, renewAt: signed.expiresAt.getTime() - 60_000 };
        return signed.token;
      },
    });
    const throttle: LoginThrottleSettings = {
      enabled: config.RATE_LIMITS !== 'off',
      failuresFree: config.LOGIN_FAILURES_FREE,
      lockSecondsFirst: config.LOGIN_LOCK_SECONDS_FIRST,
      accountFailuresMax: config.LOGIN_ACCOUNT_FAILURES_MAX,
      clientFailuresMax: config.LOGIN_CLIENT_FAILURES_MAX,
      windowSeconds: config.LOGIN_THROTTLE_WINDOW_SECONDS,
      lockSecondsMax: LOGIN_LOCK_SECONDS_MAX,
    };
    if (!throttle.enabled) logger.warn('RATE_LIMITS=off: logins are not throttled');
    // Durable: kept in auth.audit_outbox until users accepts it (packages/audit outbox.ts).
    const audit = createOutboxAuditRecorder({ source: 'auth', query: database.query, client: users, logger });
    const sessions: SessionDeps = { store: createAuthStore(database), users, signingKey, settings, logger, throttle, audit };
    const verifyToken = createTokenVerifier({
      keys: localKeySet(signingKey),
      issuer: settings.issuer,
      audience: settings.audience,
      accept: [ACCESS_TOKEN_TYPE, SERVICE_TOKEN_TYPE],
    });

    const server = await createSubgraphServer({
      name: 'auth',
      typeDefs,
      resolvers,
      verifyToken,
      serviceSecrets: runtime.serviceSecrets,
      logger,
      extendContext: (base, request) => ({ ...base, audit, sessions: { ...sessions, logger: base.logger, clientAddress: clientAddressOf(request, runtime.serviceSecret) } }),
      routes: (app) => {
        app.get('/.well-known/jwks.json', (_request, response) => {
          response.set('cache-control', 'public, max-age=300').json(signingKey.jwks);
        });
        app.post('/internal/service-token', express.json({ limit: '4kb' }), async (request, response) => {
          const { service, credential } = (request.body ?? {}) as { service?: unknown; credential?: unknown };
          const scopes = typeof service === 'string' ? SERVICE_SCOPES[service] : undefined;
          if (typeof service !== 'string' || typeof credential !== 'string' || !scopes || !verifyServiceCredential(runtime.serviceSecrets, service, credential)) {
            logger.warn({ service: typeof service === 'string' ? service.slice(0, 40) : null }, 'service token refused');
            response.status(401).json({ error: 'invalid service credential' });
            return;
          }
          const signed = await signServiceToken(signingKey, settings, service, scopes);
          response.json({ token: signed.token, expiresAt: signed.expiresAt.toISOString() });
        });
      },
    });
    return {
      server,
      // The relay starts once users listens (every service of the process does by now); never fails start-up.
      afterListen: async () => {
        audit.start();
        if (signingKey.resealed) await audit.record({ logger }, secretResealedEntry('auth', SIGNING_KEY_SEAL_PURPOSE, 1));
      },
      close: async () => {
        await audit.stop();
        await database.close();
      },
    };
  },
};
