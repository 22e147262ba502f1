// Proves the webhook signature helper merchants verify with: a signature made with the secret
// over the timestamp and the exact body verifies within the tolerance; another secret, a changed
// body, a stale or future timestamp and malformed headers are all rejected.
import { describe, expect, it } from 'vitest';
import { signWebhookPayload, verifyWebhookSignature } from '../src/webhooks/signature';

const secret = 'whsec_test-secret-0123456789';
const body = JSON.stringify({ id: 'evt_1', type: 'payment.succeeded', createdAt: '2026-01-01T00:00:00.000Z', data: { amount: '2500' } });
const nowMs = Date.UTC(2026, 0, 1, 12, 0, 0);
const nowSeconds = nowMs / 1000;

describe('verifyWebhookSignature', () => {
  it('accepts a fresh signature of the exact body, as a string or as bytes', () => {
    const header = signWebhookPayload(secret, body, nowSeconds);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(secret, header, body, { now: nowMs })).toBe(true);
    expect(verifyWebhookSignature(secret, header, Buffer.from(body), { now: nowMs })).toBe(true);
  });

  it('rejects another secret and a changed body', () => {
    const header = signWebhookPayload(secret, body, nowSeconds);
    expect(verifyWebhookSignature(`${secret}x`, header, body, { now: nowMs })).toBe(false);
    expect(verifyWebhookSignature(secret, header, body.replace('2500', '2501'), { now: nowMs })).toBe(false);
    expect(verifyWebhookSignature(secret, header, `${body} `, { now: nowMs })).toBe(false);
  });

  it('rejects a stale timestamp (replay) and one from the future, beyond the tolerance', () => {
    const old = signWebhookPayload(secret, body, nowSeconds - 301);
    expect(verifyWebhookSignature(secret, old, body, { now: nowMs })).toBe(false);
    expect(verifyWebhookSignature(secret, signWebhookPayload(secret, body, nowSeconds - 300), body, { now: nowMs })).toBe(true);
    expect(verifyWebhookSignature(secret, signWebhookPayload(secret, body, nowSeconds + 301), body, { now: nowMs })).toBe(false);
    // The same stale header passes with a tolerance that covers it.
    expect(verifyWebhookSignature(secret, old, body, { now: nowMs, toleranceSeconds: 600 })).toBe(true);
    // A timestamp changed to look fresh breaks the signature.
    expect(verifyWebhookSignature(secret, old.replace(/^t=\d+/, `t=${nowSeconds}`), body, { now: nowMs })).toBe(false);
  });

  it('accepts any of several v1 signatures (secret rotation) and ignores unknown schemes', () => {
    const good = signWebhookPayload(secret, body, nowSeconds).split(',v1=')[1]!;
    const header = `t=${nowSeconds},v0=abc,v1=${'0'.repeat(64)},v1=${good}`;
    expect(verifyWebhookSignature(secret, header, body, { now: nowMs })).toBe(true);
  });

  it.each([undefined, null, '', 'garbage', `t=${nowSeconds}`, `v1=${'a'.repeat(64)}`, `t=abc,v1=${'a'.repeat(64)}`, `t=1,t=2,v1=${'a'.repeat(64)}`, `t=${nowSeconds},v1=short`, 'x'.repeat(2000)])(
    'rejects the malformed header %j',
    (header) => {
      expect(verifyWebhookSignature(secret, header, body, { now: nowMs })).toBe(false);
    },
  );

  it('rejects an empty secret', () => {
    expect(verifyWebhookSignature('', signWebhookPayload('', body, nowSeconds), body, { now: nowMs })).toBe(false);
  });
});
