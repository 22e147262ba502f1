// Proves webhook attempts are counted under a small closed set of results: success, the HTTP
// status class, or the transport outcome of delivery-policy.ts lowercased, never a raw status code
// or error text (label values stay bounded whatever the merchant's endpoint answers).
import { describe, expect, it } from 'vitest';
import { webhookResult } from '../src/delivery/metrics';
import { WebhookResponseError } from '../src/webhooks/sender';

describe('webhookResult', () => {
  it('maps every attempt to a bounded label', () => {
    expect(webhookResult(true, null)).toBe('success');
    expect(webhookResult(false, new WebhookResponseError(404))).toBe('http_4xx');
    expect(webhookResult(false, new WebhookResponseError(503))).toBe('http_5xx');
    expect(webhookResult(false, new WebhookResponseError(302))).toBe('http_other');
    expect(webhookResult(false, Object.assign(new Error('fetch failed'), { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) }))).toBe('connection_refused');
    expect(webhookResult(false, Object.assign(new Error('late'), { name: 'TimeoutError' }))).toBe('timeout');
    expect(webhookResult(false, new Error('something else'))).toBe('network_error');
  });
});
