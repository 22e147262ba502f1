/**
 * The address of the client behind a request, as the gateway saw it. Subgraphs are reached through
 * the gateway, so their own socket peer is the gateway; the gateway forwards the client's address
 * in a header signed with the platform secret, and a subgraph believes the header only when the
 * signature holds (a caller reaching a subgraph directly cannot pose as someone else's address).
 * Throttles keyed by client (failed logins, registrations) read it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const CLIENT_ADDRESS_HEADER = 'x-paygraph-client-address';
/** Longer than any IPv6 address with zone; anything longer is not an address. */
const CLIENT_ADDRESS_LENGTH_MAX = 64;

function signature(serviceSecret: string, address: string): string {
  return createHmac('sha256', serviceSecret).update(`paygraph-client-address:${address}`).digest('base64url');
}

/** The header value the gateway sends: `<address> <signature>`. */
export function signClientAddress(serviceSecret: string, address: string): string {
  return `${address} ${signature(serviceSecret, address)}`;
}

/**
 * The client's address: the signed header when present and valid, else the socket peer (a direct
 * caller), else "unknown".
 */
export function clientAddressOf(
  request: { headers: Record<string, string | string[] | undefined>; socket?: { remoteAddress?: string | undefined } },
  serviceSecret: string | undefined,
): string {
  const header = request.headers[CLIENT_ADDRESS_HEADER];
  if (serviceSecret && typeof header === 'string') {
    const [address, signed] = header.split(' ');
    if (address && signed && address.length <= CLIENT_ADDRESS_LENGTH_MAX) {
      const expected = Buffer.from(signature(serviceSecret, address));
      const given = Buffer.from(signed);
      if (expected.length === given.length && timingSafeEqual(expected, given)) return address;
    }
  }
  return request.socket?.remoteAddress ?? 'unknown';
}
