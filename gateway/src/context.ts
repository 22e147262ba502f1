import type { RequestIdentity } from '@paygraph/server';

/** Per-request context at the gateway: the caller's identity, its raw token (forwarded) and request id. */
export type GatewayContext = RequestIdentity;
