/**
 * Hive Gateway (The Guild's federation gateway, `@graphql-hive/gateway`) in front of this
 * platform's subgraphs, on the checked-in schema/supergraph.graphql, in place of our gateway:
 *
 *   SERVICE_SECRET=... npx hive-gateway supergraph schema/supergraph.graphql \
 *     -c deploy/hive-gateway/gateway.config.ts --port 4000
 *
 * Default settings plus what the subgraphs require of any gateway:
 * - the caller's `Authorization` header, forwarded (each subgraph verifies the token itself);
 * - the gateway credential (`x-paygraph-gateway`, derived from SERVICE_SECRET): subgraphs answer
 *   only the gateway and services, so without it every request is refused;
 * - the request id (`x-request-id`), forwarded when the client sent one;
 * - subgraph URLs from `<NAME>_URL` when set (as our gateway reads them), else the routing URLs
 *   of the supergraph file.
 * What our gateway does and this one does not (edge limits, cost, trusted documents, authorization
 * directives, rate limits, subscriptions, readiness) is in README.md, "Swapping the gateway".
 * Used by bench/gateway-hop.ts and tests/e2e/hive-gateway.e2e.test.ts.
 */
import { defineConfig } from '@graphql-hive/gateway';
import { GATEWAY_CREDENTIAL_HEADER, gatewayCredential } from '@paygraph/identity';
import { REQUEST_ID_HEADER } from '@paygraph/logging';

/** Subgraph names of schema/supergraph.yaml whose URL an environment variable may override. */
const SUBGRAPHS = ['users', 'auth', 'ledger', 'wallet', 'risk', 'payments', 'notifications'] as const;

const serviceSecret = process.env.SERVICE_SECRET;
if (!serviceSecret) throw new Error('SERVICE_SECRET is required: subgraphs answer only a gateway holding the platform credential');
const credential = gatewayCredential(serviceSecret);

const locations = Object.fromEntries(
  SUBGRAPHS.flatMap((name) => {
    const url = process.env[`${name.toUpperCase()}_URL`];
    return url ? [[name, { location: url }]] : [];
  }),
);

export const gatewayConfig = defineConfig({
  transportEntries: locations,
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get('authorization'),
      [REQUEST_ID_HEADER]: request.headers.get(REQUEST_ID_HEADER),
      [GATEWAY_CREDENTIAL_HEADER]: credential,
    }),
  },
});
