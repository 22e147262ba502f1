import type { RequestIdentity } from '@paygraph/server';
import type { EdgeRequestContext } from './rate-limit/edge';

/** Per-request context at the gateway: the caller's identity, its raw token (forwarded) and request id. */
export type GatewayContext = RequestIdentity & EdgeRequestContext;
