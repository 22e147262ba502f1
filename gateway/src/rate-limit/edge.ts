/**
 * The gateway's edge protection of issue 11 in one value, so the gateway wires it in a few lines:
 * federated authorization (authorization/), trusted documents (trusted-documents/) and rate limits
 * (this folder), plus the client address every throttle keys on, forwarded signed to subgraphs.
 */
import type { SupergraphManager } from '@apollo/gateway';
import type { ApolloServerPlugin } from '@apollo/server';
import express from 'express';
import { envSchemas, parseEnv, type PlatformConfig } from '@paygraph/config';
import { signClientAddress, type TokenVerifier, type Viewer } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import { JSON_BODY_LIMIT, jsonBody } from '@paygraph/server';
import { createAuthorization, supergraphForGateway } from '../authorization';
import { trustedDocumentsCheck, trustedDocumentsMiddleware, type DocumentVerdict, type GraphQLParameters } from '../trusted-documents';
import { clientKeyOf, createRateLimits, rateLimitMiddleware, rateLimitPlugin, retryAfterFromErrors, type RateLimitSettings } from './index';
import type { Consumed } from './limiters';

export type EdgeSettings = RateLimitSettings & Pick<PlatformConfig, 'TRUSTED_DOCUMENTS' | 'TRUSTED_DOCUMENTS_MANIFEST'>;

export interface EdgeRequestContext {
  /** The client's address as this gateway sees it (the socket peer). */
  clientAddress?: string;
  /** The same, signed with the platform secret, for the subgraphs' throttles (CLIENT_ADDRESS_HEADER). */
  clientAddressSigned?: string;
}

export interface EdgeProtection {
  /** The supergraph (a static SDL or a manager such as IntrospectAndCompose) as Apollo Gateway must receive it. */
  supergraph<T extends string | SupergraphManager>(source: T): T;
  /** Give it `coreSupergraphSdl` of every `gateway.onSchemaLoadOrUpdate`. */
  schemaLoaded(coreSupergraphSdl: string): void;
  plugins: ApolloServerPlugin<any>[];
  /** Mounted on /graphql before the IDE and Apollo Server. */
  middleware: express.RequestHandler[];
  requestContext(request: express.Request): EdgeRequestContext;
  /**
   * A WebSocket's connection_init spends one point of the client's request budget, as an HTTP
   * request does (the upgrade bypasses the middleware); the viewer of its token, else its address.
   */
  admitConnection(viewer: Viewer | undefined, address: string | undefined): Promise<Consumed>;
  /** The trusted documents rule for WebSocket subscribe messages (null when TRUSTED_DOCUMENTS=off). */
  documents: ((parameters: GraphQLParameters) => DocumentVerdict) | null;
  close(): Promise<void>;
}

/** Signed client addresses remembered (bounded; the oldest is forgotten first). */
const SIGNED_ADDRESSES_CACHED_MAX = 10_000;

/**
 * signClientAddress, remembered per address: an HMAC per request was 2% of the gateway's CPU
 * under bench:gateway, and a client sends many requests from one address.
 */
function signedAddressCache(serviceSecret: string): (address: string) => string {
  const signed = new Map<string, string>();
  return (address) => {
    const hit = signed.get(address);
    if (hit !== undefined) return hit;
    const value = signClientAddress(serviceSecret, address);
    if (signed.size >= SIGNED_ADDRESSES_CACHED_MAX) signed.delete(signed.keys().next().value!);
    signed.set(address, value);
    return value;
  };
}

export function createEdgeProtection(options: { config: Partial<EdgeSettings>; logger: Logger; verifyToken: TokenVerifier; serviceSecret?: string | undefined }): EdgeProtection {
  const { logger } = options;
  // A configuration without these settings (a test building the gateway by hand) gets their defaults.
  const defined = Object.fromEntries(Object.entries(options.config).filter(([, value]) => value !== undefined));
  const config: EdgeSettings = { ...parseEnv(envSchemas.edge, {}), ...defined };
  const authorization = createAuthorization(logger);
  const limits = createRateLimits(config, logger);
  const documentOptions = { mode: config.TRUSTED_DOCUMENTS, manifestFile: config.TRUSTED_DOCUMENTS_MANIFEST, logger };
  const documents = trustedDocumentsCheck(documentOptions);
  const signedAddress = options.serviceSecret ? signedAddressCache(options.serviceSecret) : null;
  const wrapManager = (manager: SupergraphManager): SupergraphManager => ({
    async initialize(hookOptions) {
      const started = await manager.initialize({
        ...hookOptions,
        update: (sdl) => hookOptions.update(supergraphForGateway(sdl)),
        healthCheck: (sdl) => hookOptions.healthCheck(supergraphForGateway(sdl)),
      });
      return { ...started, supergraphSdl: supergraphForGateway(started.supergraphSdl) };
    },
  });
  return {
    supergraph: (source) => (typeof source === 'string' ? supergraphForGateway(source) : wrapManager(source)) as typeof source,
    schemaLoaded: (sdl) => authorization.schemaLoaded(sdl),
    plugins: [authorization.plugin, rateLimitPlugin(limits), retryAfterFromErrors],
    middleware: [
      rateLimitMiddleware(limits, options.verifyToken),
      jsonBody({ limit: JSON_BODY_LIMIT }),
      trustedDocumentsMiddleware(documentOptions, documents),
    ],
    requestContext(request) {
      const clientAddress = request.ip ?? request.socket.remoteAddress;
      if (!clientAddress) return {};
      return { clientAddress, ...(signedAddress ? { clientAddressSigned: signedAddress(clientAddress) } : {}) };
    },
    admitConnection: (viewer, address) => limits.consume('requests', clientKeyOf(viewer, address)),
    documents,
    close: () => limits.close(),
  };
}
