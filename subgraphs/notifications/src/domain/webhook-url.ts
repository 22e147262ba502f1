/**
 * Which URLs a merchant may register as a webhook endpoint. Pure: no I/O.
 *
 * http and https only, at most 2048 characters, no credentials in the URL (they would be stored
 * and shown in clear) and no fragment. Loopback and private IP addresses (and `localhost`) are
 * refused when private addresses are denied (the production default) so a merchant cannot make
 * this service call the platform's own network; they are allowed in development and tests, which
 * receive webhooks on 127.0.0.1. Only literal addresses are checked: a DNS name that resolves to
 * a private address is not caught here.
 */
import { isIP } from 'node:net';
import { badUserInput } from '@paygraph/errors';

export const WEBHOOK_URL_LENGTH_MAX = 2048;
const FIELD = 'input.url';

export function assertWebhookUrl(raw: string, options: { privateAddressesAllowed: boolean }): string {
  const value = raw.trim();
  if (value.length === 0 || value.length > WEBHOOK_URL_LENGTH_MAX) throw badUserInput(`url must be 1 to ${WEBHOOK_URL_LENGTH_MAX} characters`, FIELD);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badUserInput('url must be an absolute http:// or https:// URL', FIELD);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badUserInput('url must be an http:// or https:// URL', FIELD);
  if (url.username !== '' || url.password !== '') throw badUserInput('url must not contain a user name or password', FIELD);
  if (url.hash !== '') throw badUserInput('url must not contain a fragment (#...)', FIELD);
  if (url.hostname === '') throw badUserInput('url must name a host', FIELD);
  if (!options.privateAddressesAllowed && isPrivateHost(url.hostname)) throw badUserInput('url must not point to a loopback or private address', FIELD);
  return url.toString();
}

/** Literal loopback, private, link-local or unspecified addresses, and `localhost`. */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const version = isIP(host);
  if (version === 4) return isPrivateIPv4(host);
  if (version === 6) {
    // IPv4-mapped (::ffff:a.b.c.d, which URL parsing writes as ::ffff:xxxx:yyyy).
    const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
    if (dotted) return isPrivateIPv4(dotted[1]!);
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
    if (hex) {
      const [high, low] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
      return isPrivateIPv4(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
    }
    return host === '::' || host === '::1' || /^f[cd][0-9a-f]{2}:/.test(host) || /^fe[89ab][0-9a-f]:/.test(host);
  }
  return false;
}

function isPrivateIPv4(address: string): boolean {
  const [a, b] = address.split('.').map(Number) as [number, number, number, number];
  return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}
