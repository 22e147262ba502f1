/**
 * Sends one webhook delivery: POST of the stored JSON body, signed at send time, with a timeout.
 * Redirects are not followed (a 3xx is a failed attempt), so an endpoint cannot send the request
 * elsewhere; the response body is discarded unread.
 */
import { SIGNATURE_HEADER, signWebhookPayload } from './signature';

export class WebhookResponseError extends Error {
  override name = 'WebhookResponseError';
  constructor(readonly status: number) {
    super(`endpoint answered HTTP ${status}`);
  }
}

export const WEBHOOK_USER_AGENT = 'Paygraph-Webhooks/1';

/** Resolves with the 2xx status; throws WebhookResponseError for any other status, or the network error. */
export async function sendWebhook(request: { url: string; secret: string; body: string; deliveryId: string }, options: { timeoutMs: number; now?: () => number }): Promise<number> {
  const timestamp = Math.floor((options.now ?? Date.now)() / 1000);
  const response = await fetch(request.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
      [SIGNATURE_HEADER]: signWebhookPayload(request.secret, request.body, timestamp),
      'Paygraph-Delivery': request.deliveryId,
    },
    body: request.body,
    redirect: 'manual',
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  await response.body?.cancel().catch(() => {});
  if (response.status < 200 || response.status > 299) throw new WebhookResponseError(response.status);
  return response.status;
}
