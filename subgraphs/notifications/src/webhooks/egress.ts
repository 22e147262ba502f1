/**
 * Webhook egress that cannot be steered inward. A merchant chooses the URL, so without care this
 * service would POST signed events to whatever the URL's host resolves to: the platform's own
 * loopback, its private network, a cloud metadata address. Checking the host's text is not
 * enough (`vm`, `127.0.0.1.nip.io`, `localtest.me` are names that resolve inward, and a name can
 * answer differently at send time than at registration: DNS rebinding), so:
 *
 * - every address a host resolves to is classified (ipaddr.js ranges) and anything that is not
 *   public unicast is refused: loopback, private, link-local, CGNAT (100.64/10), benchmarking
 *   (198.18/15), multicast, broadcast, unspecified, reserved and documentation ranges, IPv4-mapped
 *   and IPv4-compatible IPv6, NAT64 (64:ff9b::/96, 64:ff9b:1::/48), Teredo, ULA fc00::/7,
 *   fe80::/10 and 6to4 (2002::/16, whatever IPv4 address it embeds);
 * - the check runs at registration (`vetDestination`) and again at each send inside the HTTP
 *   agent's `connect.lookup` (`createWebhookAgent`), so the socket connects to the very address
 *   that was vetted, never to a second answer.
 *
 * `WEBHOOK_PRIVATE_ADDRESSES=allow` (local development and tests, which receive on 127.0.0.1)
 * turns the address check off; nothing else changes.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';

/** The error code of a refused destination (what `outcomeOf` turns into ADDRESS_REFUSED). */
export const ADDRESS_REFUSED = 'ADDRESS_REFUSED';
/** Addresses one host may resolve to that are looked at; more answers than this are refused. */
export const RESOLVED_ADDRESSES_MAX = 32;

export class AddressRefusedError extends Error {
  override name = 'AddressRefusedError';
  readonly code = ADDRESS_REFUSED;
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** Resolves every address of a host name (the shape of `dns.lookup` with `all: true`). */
export type ResolveAll = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolveAll: ResolveAll = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));

const RANGE_REASONS: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  linkLocal: 'a link-local address',
  carrierGradeNat: 'a carrier-grade NAT address (100.64.0.0/10)',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
  unspecified: 'an unspecified address',
  reserved: 'a reserved or documentation address',
  uniqueLocal: 'a unique local IPv6 address (fc00::/7)',
  ipv4Mapped: 'an IPv4-mapped IPv6 address',
  rfc6052: 'a NAT64 address (64:ff9b::/96)',
  rfc6145: 'an IPv4-translated IPv6 address',
  teredo: 'a Teredo address',
};

/** Why `address` (a literal IPv4 or IPv6 address) may not receive webhooks, or null when it may. */
export function addressProblem(address: string): string | null {
  const literal = address.replace(/^\[|\]$/g, '');
  if (!ipaddr.isValid(literal)) return 'not an IP address';
  const parsed = ipaddr.parse(literal);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    const parts = v6.parts;
    // IPv4-compatible (::a.b.c.d, deprecated) and the local-use NAT64 prefix 64:ff9b:1::/48 are not all named by ipaddr.js.
    if (parts.slice(0, 6).every((part) => part === 0) && !(parts[6] === 0 && parts[7]! <= 1)) return 'an IPv4-compatible IPv6 address';
    if (parts[0] === 0x64 && parts[1] === 0xff9b && parts[2] === 1) return 'a NAT64 address (64:ff9b:1::/48)';
    const range = v6.range();
    // 6to4 (2002::/16) is refused whole, whatever IPv4 address it embeds: the packets go through
    // a 6to4 relay (anycast 192.88.99.0/24, deprecated by RFC 7526) that we do not choose and that
    // may sit inside a network, and the issue asks for the range refused.
    if (range === '6to4') return 'a 6to4 address (2002::/16)';
    if (range !== 'unicast') return RANGE_REASONS[range] ?? `a special-purpose address (${range})`;
    // Only global unicast (2000::/3) is routed on the internet; everything else ipaddr.js calls "unicast" is not.
    if ((parts[0]! & 0xe000) !== 0x2000) return 'a non-global IPv6 address';
    return null;
  }
  const range = (parsed as ipaddr.IPv4).range();
  if (range !== 'unicast') return RANGE_REASONS[range] ?? `a special-purpose address (${range})`;
  return null;
}

/** `localhost` and its subdomains resolve to loopback by definition (RFC 6761), whatever DNS says. */
function isLocalhostName(hostname: string): boolean {
  const host = hostname.replace(/\.$/, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost');
}

/**
 * Why `hostname` (as a URL spells it) may not receive webhooks, resolving it when it is a name;
 * null when every address it resolves to is public. Throws the resolver's error when the name
 * does not resolve.
 */
export async function destinationProblem(hostname: string, resolveAll: ResolveAll = systemResolveAll): Promise<string | null> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) {
    const problem = addressProblem(host);
    return problem ? `${host} is ${problem}` : null;
  }
  if (isLocalhostName(host)) return `${host} is a loopback name`;
  const addresses = await resolveAll(host);
  if (addresses.length === 0) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
  if (addresses.length > RESOLVED_ADDRESSES_MAX) return `${host} resolves to more than ${RESOLVED_ADDRESSES_MAX} addresses`;
  for (const { address } of addresses) {
    const problem = addressProblem(address);
    if (problem) return `${host} resolves to ${address}, ${problem}`;
  }
  return null;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/tls `connect` that answers only vetted addresses: it resolves every address,
 * refuses the host when any one of them is not public (an attacker's name answering a public and
 * a private address must not win by luck), and hands the socket exactly those addresses.
 */
export function vettedLookup(resolveAll: ResolveAll = systemResolveAll) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions | number | undefined, callback: LookupCallback): void => {
    const all = typeof options === 'object' && options !== null && options.all === true;
    const family = typeof options === 'number' ? options : typeof options === 'object' && options !== null ? options.family : undefined;
    const wanted = family === 4 || family === 'IPv4' ? 4 : family === 6 || family === 'IPv6' ? 6 : 0;
    const check = async (): Promise<LookupAddress[]> => {
      if (isLocalhostName(hostname)) throw new AddressRefusedError(`${hostname} is a loopback name`);
      const resolved = isIP(hostname) !== 0 ? [{ address: hostname, family: isIP(hostname) }] : await resolveAll(hostname);
      if (resolved.length > RESOLVED_ADDRESSES_MAX) throw new AddressRefusedError(`${hostname} resolves to more than ${RESOLVED_ADDRESSES_MAX} addresses`);
      for (const { address } of resolved) {
        const problem = addressProblem(address);
        if (problem) throw new AddressRefusedError(`${hostname} resolves to ${address}, ${problem}`);
      }
      const usable = wanted === 0 ? resolved : resolved.filter((entry) => entry.family === wanted);
      if (usable.length === 0) throw Object.assign(new Error(`${hostname} has no IPv${wanted} address`), { code: 'ENOTFOUND' });
      return usable;
    };
    check().then(
      (addresses) => (all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family)),
      (error: NodeJS.ErrnoException) => callback(error, all ? [] : ''),
    );
  };
}

/**
 * The HTTP agent webhooks are sent through. With private addresses denied, every connection's
 * host is resolved and vetted by `vettedLookup`; literal IP hosts never reach a lookup, so the
 * sender checks them before the request (`destinationProblem`).
 */
export function createWebhookAgent(options: { privateAddressesAllowed: boolean; connectTimeoutMs: number; resolveAll?: ResolveAll }): Agent {
  return new Agent({
    connect: { timeout: options.connectTimeoutMs, ...(options.privateAddressesAllowed ? {} : { lookup: vettedLookup(options.resolveAll) }) },
    // Each delivery is one request; idle sockets to merchants are not kept for long.
    keepAliveTimeout: 4_000,
  });
}
