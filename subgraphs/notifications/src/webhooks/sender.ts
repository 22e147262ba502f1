/**
 * Sends one webhook delivery: POST of the stored JSON body, signed at send time (by every secret
 * in force: two during a rotation's grace period), with a timeout, through the egress agent
 * (egress.ts) that connects only to vetted public addresses unless private ones are allowed.
 * Redirects are not followed (a 3xx is a failed attempt), so an endpoint cannot send the request
 * elsewhere; the response body is discarded unread.
 */
import { isIP } from 'node:net';
import { fetch, type Agent } from 'undici';
import { AddressRefusedError, addressProblem } from './egress';
import { SIGNATURE_HEADER, signWebhookPayload, standardWebhookHeaders } from './signature';

export class WebhookResponseError extends Error {
  override name = 'WebhookResponseError';
  constructor(readonly status: number) {
    super(`endpoint answered HTTP ${status}`);
  }
}

export const WEBHOOK_USER_AGENT = 'Paygraph-Webhooks/1';

export interface WebhookRequest {
  url: string;
  /** Newest first; the first signs alone outside a rotation. */
  secrets: readonly string[];
  body: string;
  deliveryId: string;
  /** The event's id: `webhook-id`, the same on every retry and resend. */
  eventId: string;
}

/** Resolves with the 2xx status; throws WebhookResponseError for any other status, AddressRefusedError, or the network error. */
export async function sendWebhook(request: WebhookRequest, options: { timeoutMs: number; agent: Agent; privateAddressesAllowed: boolean; now?: () => number }): Promise<number> {
  if (request.secrets.length === 0) throw new Error('a webhook needs at least one signing secret');
  const url = new URL(request.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // A literal address never reaches the agent's lookup: it is vetted here.
  if (!options.privateAddressesAllowed && ipLiteral(host)) {
    const problem = addressProblem(host);
    if (problem) throw new AddressRefusedError(`${host} is ${problem}`);
  }
  const timestamp = Math.floor((options.now ?? Date.now)() / 1000);
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
      [SIGNATURE_HEADER]: signWebhookPayload(request.secrets, request.body, timestamp),
      ...standardWebhookHeaders(request.secrets, request.eventId, request.body, timestamp),
      'Paygraph-Delivery': request.deliveryId,
    },
    body: request.body,
    redirect: 'manual',
    dispatcher: options.agent,
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  await response.body?.cancel().catch(() => {});
  if (response.status < 200 || response.status > 299) throw new WebhookResponseError(response.status);
  return response.status;
}

const ipLiteral = (host: string): boolean => isIP(host) !== 0;
