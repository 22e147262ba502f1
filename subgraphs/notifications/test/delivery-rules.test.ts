// Proves the pure delivery rules: the retry backoff (base doubling, capped), when a delivery is
// SENT, retried or FAILED, the one-line truncated error kept per attempt, which webhook URLs a
// merchant may register, and the service's settings from the environment (secrets never echoed).
import { describe, expect, it } from 'vitest';
import { ATTEMPT_ERROR_LENGTH_MAX, attemptErrorText, retryDelayMs, statusAfterAttempt } from '../src/domain/delivery-policy';
import { assertWebhookUrl, literalHostProblem } from '../src/domain/webhook-url';
import { loadNotificationSettings } from '../src/settings';

describe('retryDelayMs', () => {
  it('doubles from the base and stops at the maximum', () => {
    const options = { baseMs: 1000, maxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6].map((attempt) => retryDelayMs(attempt, options))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(retryDelayMs(10_000, options)).toBe(10_000);
  });

  it('asserts a positive attempt number', () => {
    expect(() => retryDelayMs(0, { baseMs: 1, maxMs: 1 })).toThrow();
    expect(() => retryDelayMs(1.5, { baseMs: 1, maxMs: 1 })).toThrow();
  });
});

describe('statusAfterAttempt', () => {
  it('is SENT on success, PENDING before the last attempt, FAILED at it', () => {
    expect(statusAfterAttempt(true, 5, 5)).toBe('SENT');
    expect(statusAfterAttempt(false, 1, 5)).toBe('PENDING');
    expect(statusAfterAttempt(false, 4, 5)).toBe('PENDING');
    expect(statusAfterAttempt(false, 5, 5)).toBe('FAILED');
    expect(statusAfterAttempt(false, 1, 1)).toBe('FAILED');
  });
});

describe('attemptErrorText', () => {
  it('keeps one line, adds the cause fetch hides, and truncates', () => {
    expect(attemptErrorText(new Error('line one\n  line two'))).toBe('line one line two');
    expect(attemptErrorText(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:9') }))).toBe('fetch failed: connect ECONNREFUSED 127.0.0.1:9');
    const long = attemptErrorText(new Error('x'.repeat(5000)));
    expect(long).toHaveLength(ATTEMPT_ERROR_LENGTH_MAX);
    expect(attemptErrorText('')).toBe('unknown error');
  });
});

describe('assertWebhookUrl', () => {
  const allowed = { privateAddressesAllowed: true };
  const denied = { privateAddressesAllowed: false };

  it('accepts http and https URLs, normalised', () => {
    expect(assertWebhookUrl(' https://Shop.Example.com/hooks?x=1 ', denied)).toBe('https://shop.example.com/hooks?x=1');
    expect(assertWebhookUrl('http://127.0.0.1:8080/hooks', allowed)).toBe('http://127.0.0.1:8080/hooks');
    expect(assertWebhookUrl(`https://example.com/${'a'.repeat(2000)}`, denied)).toHaveLength(2020);
  });

  it('bounds the URL as stored and sent: 1,000 "é" percent-encode to 6,000 characters and are refused', () => {
    expect(() => assertWebhookUrl(`http://1.1.1.1/${'é'.repeat(1000)}`, allowed)).toThrow(expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', field: 'input.url' } }));
    expect(assertWebhookUrl(`http://1.1.1.1/${'é'.repeat(300)}`, allowed)).toHaveLength(15 + 300 * 6);
    // At the bound and one past it, once encoded: 15 + 338 x 6 + 5 = 2,048 characters; one more "a" is 2,049.
    const atBound = `http://1.1.1.1/${'é'.repeat(338)}aaaaa`;
    expect(assertWebhookUrl(atBound, allowed)).toHaveLength(2048);
    expect(() => assertWebhookUrl(`${atBound}a`, allowed)).toThrow(expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', field: 'input.url' } }));
  });

  it.each(['', 'example.com/hooks', 'ftp://example.com', 'javascript:alert(1)', 'https://user:pw@example.com', 'https://example.com/#frag', `https://example.com/${'a'.repeat(2030)}`])('refuses %j', (url) => {
    expect(() => assertWebhookUrl(url, allowed)).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'input.url' }) }));
  });

  it.each(['http://127.0.0.1/', 'http://localhost:3000/', 'http://localhost./', 'http://10.1.2.3/', 'http://172.16.0.1/', 'http://192.168.1.1/', 'http://169.254.169.254/latest', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[fd00::1]/', 'http://2130706433/', 'http://0.0.0.0/', 'http://[::127.0.0.1]/', 'http://[64:ff9b::a9fe:a9fe]/', 'http://198.18.0.1/', 'http://100.64.0.1/', 'http://[2002:7f00:1::1]/', 'http://[2002:808:808::1]/', 'http://[fe80::1]/', 'http://224.0.0.1/', 'http://255.255.255.255/', 'http://192.0.2.1/'])(
    'refuses the private address %s when private addresses are denied',
    (url) => {
      expect(() => assertWebhookUrl(url, denied)).toThrow(/internal address/);
      expect(assertWebhookUrl(url, allowed)).toBeTypeOf('string');
    },
  );

  it('does not mistake public hosts for private ones', () => {
    for (const host of ['example.com', '8.8.8.8', '172.32.0.1', '[2606:4700::1111]', 'localhost.example.com']) expect(literalHostProblem(host)).toBeNull();
  });
});

describe('loadNotificationSettings', () => {
  it('has defaults: development email, 5 attempts from 1 s, private addresses allowed outside production', () => {
    expect(loadNotificationSettings({}, 'development')).toEqual({
      smtpUrl: null,
      smtpFrom: 'Paygraph <no-reply@paygraph.local>',
      deliveryAttemptsMax: 5,
      deliveryRetryBaseMs: 1000,
      deliveryRetryMaxMs: 3_600_000,
      deliveryPollIntervalMs: 1000,
      webhookTimeoutMs: 5000,
      webhookPrivateAddressesAllowed: true,
    });
    expect(loadNotificationSettings({}, 'production').webhookPrivateAddressesAllowed).toBe(false);
    expect(() => loadNotificationSettings({ WEBHOOK_PRIVATE_ADDRESSES: 'allow' }, 'production')).toThrow(/WEBHOOK_PRIVATE_ADDRESSES=allow .*refused with NODE_ENV=production/);
    expect(loadNotificationSettings({ WEBHOOK_PRIVATE_ADDRESSES: 'deny' }, 'development').webhookPrivateAddressesAllowed).toBe(false);
  });

  it('reads the variables and refuses bad values naming the variable', () => {
    const settings = loadNotificationSettings({ SMTP_URL: 'smtps://mailer:s3cret@mail.example.com:465', DELIVERY_ATTEMPTS_MAX: '3', DELIVERY_RETRY_BASE_MS: '50' }, 'test');
    expect(settings).toMatchObject({ smtpUrl: 'smtps://mailer:s3cret@mail.example.com:465', deliveryAttemptsMax: 3, deliveryRetryBaseMs: 50 });
    expect(() => loadNotificationSettings({ DELIVERY_ATTEMPTS_MAX: '0' }, 'test')).toThrow(/DELIVERY_ATTEMPTS_MAX/);
    expect(() => loadNotificationSettings({ WEBHOOK_TIMEOUT_MS: '60000' }, 'test')).toThrow(/WEBHOOK_TIMEOUT_MS/);
    expect(() => loadNotificationSettings({ DELIVERY_RETRY_BASE_MS: '5000', DELIVERY_RETRY_MAX_MS: '1000' }, 'test')).toThrow(/DELIVERY_RETRY_MAX_MS/);
  });

  it('never echoes SMTP_URL, which may hold a password', () => {
    let message = '';
    try {
      loadNotificationSettings({ SMTP_URL: 'http://mailer:hunter2secret@mail.example.com' }, 'test');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/SMTP_URL/);
    expect(message).not.toContain('hunter2secret');
  });
});
