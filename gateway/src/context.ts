import type { Viewer } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';

/** Per-request context at the gateway. */
export interface GatewayContext {
  requestId: string;
  viewer: Viewer;
  /** The caller's Authorization header, forwarded to subgraphs as it came (already verified). */
  authorization: string | undefined;
  logger: Logger;
}
