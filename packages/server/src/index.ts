/**
 * What every subgraph shares: the HTTP server (Apollo Server on express, health, masking, the
 * viewer from the bearer token), the service lifecycle used by `npm start` and by a service
 * started alone, and the Apollo options that keep responses free of stack traces.
 */
export { createSubgraphServer, type SubgraphServer, type SubgraphContext, type SubgraphServerOptions } from './subgraph-server';
export { apolloSafetyPlugin, baseApolloOptions, formatServerError, JSON_BODY_LIMIT, variableCoercion, withoutSuggestions, withVariableField } from './apollo';
export { listen, type Listening } from './listen';
export { graphqlHandler } from './graphql-handler'; // Apollo Server on express, without a URL parse and an ETag per request
export { jsonBody } from './json-body'; // express.json's result without its per-request helpers, for the JSON every client sends
export { subgraphReadiness, READINESS_CHECK_TIMEOUT_MS, type ReadinessChecks, type SubgraphReadiness } from './readiness';
export { createRuntime, createDirectory, refuseWeakSecrets, type ServiceDefinition, type ServiceRuntime, type ServiceInstance, type MutableServiceDirectory } from './service';
export { resolveServiceSecret } from './service-secret';
export { createPlatformTokenVerifier, gatewayTokenVerifier, openEventTransport } from './process-setup';
export { runStandalone } from './standalone';
export { identifyRequest, httpErrorHandler, type RequestIdentity } from './http';
export { accessLog, accessRecordOf, operationNameOf, recordViewer, traceIdOf, type AccessRecord } from './access-log';
export { runProcess } from './process';
/** Start-up of a process that needs the database (e.g. the gateway's PostgreSQL event transport) waits for it. */
export { waitForDatabase } from '@paygraph/db';
export { BIGINT_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, pageSize, encodeCursor, decodeCursor, connection } from './pagination';
export { rowLoader, groupLoader } from './loaders';
export { subgraphFiles } from './files';
export { lookupCache, type LookupCache } from './cache';
export { CLIENT_IDEMPOTENCY_KEY_LENGTH_MAX, assertIdempotencyKey, claimOrReplay, replayOrRefuse, requestHash, type ClaimOutcome, type KeyedRequest } from './idempotency';
export { isReservedLedgerKey, LEDGER_IDEMPOTENCY_KEY_LENGTH_MAX, ledgerKeys, RESERVED_LEDGER_KEY_PREFIXES, type LedgerKey, type PaymentAuthorizeKey, type PaymentCaptureKey, type RefundKey, type WalletTransferKey } from './ledger-keys';
export { LimitCode, FRAGMENT_NESTING_MAX, FREE_TEXT_FIELD_NAMES, hasUnpairedSurrogate, checkInputs, checkOperationShape, countTokens, limitsParseOptions, measureOperation, operationLimitsPlugin, subgraphEdgeOptions, tokensError, type LimitsHooks, type OperationLimits, type OperationShape } from './limits';
