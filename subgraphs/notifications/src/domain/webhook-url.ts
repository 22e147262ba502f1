/**
 * Which URLs a merchant may register as a webhook endpoint.
 *
 * `assertWebhookUrl` (pure): http and https only, at most 2048 characters, no credentials in the
 * URL (they would be stored and shown in clear) and no fragment; when private addresses are
 * denied (the production default), a literal address that is not public unicast and the
 * `localhost` names are refused. `vetWebhookUrl` adds the DNS check: every address the host name
 * resolves to must be public too (webhooks/egress.ts). The same address check runs again at every
 * send, on the address actually connected to, so a name that changes its answer later (DNS
 * rebinding) gains nothing. Development and tests (`WEBHOOK_PRIVATE_ADDRESSES=allow`) receive
 * webhooks on 127.0.0.1 and skip the address checks.
 */
import { isIP } from 'node:net';
import { badUserInput } from '@paygraph/errors';
import { addressProblem, destinationProblem, type ResolveAll } from '../webhooks/egress';

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
  if (!options.privateAddressesAllowed) {
    const problem = literalHostProblem(url.hostname);
    if (problem) throw badUserInput(`url must not point to a loopback, private or other internal address: ${problem}`, FIELD);
  }
  // The bound is on what is stored and sent: percent-encoding can make a URL up to nine times longer ("é" is %C3%A9).
  const normalized = url.toString();
  if (normalized.length > WEBHOOK_URL_LENGTH_MAX) throw badUserInput(`url must be 1 to ${WEBHOOK_URL_LENGTH_MAX} characters once percent-encoded (it is ${normalized.length})`, FIELD);
  return normalized;
}

/** Why a literal address or a `localhost` name may not receive webhooks; null for other names (resolved later) and public addresses. */
export function literalHostProblem(hostname: string): string | null {
  const host = hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is a loopback name`;
  if (isIP(host) === 0) return null;
  const problem = addressProblem(host);
  return problem ? `${host} is ${problem}` : null;
}

/**
 * `assertWebhookUrl`, then (private addresses denied) every address the host resolves to checked
 * now. A name that does not resolve is refused too: it could not be delivered to.
 */
export async function vetWebhookUrl(raw: string, options: { privateAddressesAllowed: boolean; resolveAll: ResolveAll }): Promise<string> {
  const normalized = assertWebhookUrl(raw, options);
  if (options.privateAddressesAllowed) return normalized;
  let problem: string | null;
  try {
    problem = await destinationProblem(new URL(normalized).hostname, options.resolveAll);
  } catch {
    throw badUserInput('url host name does not resolve', FIELD);
  }
  if (problem) throw badUserInput(`url must not point to a loopback, private or other internal address: ${problem}`, FIELD);
  return normalized;
}
