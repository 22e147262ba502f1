/**
 * The client's address, which rate limits, login throttles and logs key on. Behind a load balancer
 * or an ingress every socket's peer is the proxy, so every client would share one budget (and one
 * client's failed logins would lock the owner out); TRUST_PROXY names the proxies whose
 * X-Forwarded-For is believed, and proxy-addr (what express's `trust proxy` uses) walks the header
 * from the nearest hop back to the first address not trusted. A client cannot choose its address
 * by sending the header itself: without trusted proxies, or beyond them, it is ignored.
 */
import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

export type ProxyTrust = (address: string, hop: number) => boolean;

/** TRUST_PROXY as a trust function: `off`, a hop count, or a list of addresses, ranges and keywords. */
export function proxyTrust(setting: string): ProxyTrust {
  if (setting === 'off') return () => false;
  if (/^\d+$/.test(setting)) {
    const hops = Number(setting);
    return (_address, hop) => hop < hops;
  }
  return proxyaddr.compile(setting.split(',').map((item) => item.trim()));
}

/** The address of the client behind the trusted proxies (the socket's peer without any). */
export const clientAddressOf = (request: IncomingMessage, trust: ProxyTrust): string => proxyaddr(request, trust);
