/**
 * The notifications service's own settings, read from the environment at start-up (the shared
 * platform config does not know them). Every variable is optional:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `SMTP_URL` | unset: a development provider records emails in memory and logs them | `smtp://` or `smtps://` server for EMAIL, e.g. `smtp://user:pass@mail:587` |
 * | `SMTP_FROM` | `Paygraph <no-reply@paygraph.local>` | sender of every email |
 * | `DELIVERY_ATTEMPTS_MAX` | `5` | attempts per delivery (email, sms, push, webhook) before it is FAILED |
 * | `DELIVERY_RETRY_BASE_MS` | `1000` | wait after the first failed attempt; doubles after each next one |
 * | `DELIVERY_RETRY_MAX_MS` | `3600000` | longest wait between two attempts |
 * | `DELIVERY_POLL_INTERVAL_MS` | `1000` | how often the worker looks for due deliveries (it is also woken after each commit and when a retry falls due) |
 * | `WEBHOOK_TIMEOUT_MS` | `5000` | how long a merchant's endpoint has to answer |
 * | `WEBHOOK_PRIVATE_ADDRESSES` | `deny` when `NODE_ENV=production` (where `allow` is refused), else `allow` | whether webhooks may reach loopback, private and other non-public addresses (webhooks/egress.ts) |
 *
 * SMTP_URL may hold a password: it is never logged nor echoed in a configuration error.
 */
import { z } from 'zod';
import { ConfigError, parseEnv } from '@paygraph/config';

const wholeNumber = (min: number, max: number) =>
  z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

const shape = {
  SMTP_FROM: z.string().min(3, 'must be an email sender such as "Paygraph <no-reply@example.com>"').max(254, 'must be at most 254 characters').default('Paygraph <no-reply@paygraph.local>'),
  DELIVERY_ATTEMPTS_MAX: wholeNumber(1, 25).default(5),
  DELIVERY_RETRY_BASE_MS: wholeNumber(1, 3_600_000).default(1_000),
  DELIVERY_RETRY_MAX_MS: wholeNumber(1, 86_400_000).default(3_600_000),
  DELIVERY_POLL_INTERVAL_MS: wholeNumber(10, 3_600_000).default(1_000),
  WEBHOOK_TIMEOUT_MS: wholeNumber(100, 30_000).default(5_000),
  WEBHOOK_PRIVATE_ADDRESSES: z.enum(['allow', 'deny'], { message: 'must be allow or deny' }).optional(),
};

export interface NotificationSettings {
  /** Null: EMAIL goes to the development provider. */
  smtpUrl: string | null;
  smtpFrom: string;
  deliveryAttemptsMax: number;
  deliveryRetryBaseMs: number;
  deliveryRetryMaxMs: number;
  deliveryPollIntervalMs: number;
  webhookTimeoutMs: number;
  webhookPrivateAddressesAllowed: boolean;
}

function isSmtpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'smtp:' || url.protocol === 'smtps:') && url.hostname !== '';
  } catch {
    return false;
  }
}

export function loadNotificationSettings(env: NodeJS.ProcessEnv, nodeEnv: string): NotificationSettings {
  const parsed = parseEnv(shape, env);
  const smtpUrl = env.SMTP_URL ? env.SMTP_URL.trim() : '';
  if (smtpUrl !== '' && !isSmtpUrl(smtpUrl)) {
    // Not echoed: the URL may carry credentials.
    throw new ConfigError('Invalid configuration: SMTP_URL must be an smtp:// or smtps:// URL such as smtp://user:password@mail.example.com:587 (value not shown)');
  }
  if (parsed.WEBHOOK_PRIVATE_ADDRESSES === 'allow' && nodeEnv === 'production') {
    // Webhooks to the platform's own network are for a laptop or a test, never a deployment.
    throw new ConfigError('Invalid configuration: WEBHOOK_PRIVATE_ADDRESSES=allow is for local development and tests; it is refused with NODE_ENV=production');
  }
  if (parsed.DELIVERY_RETRY_MAX_MS < parsed.DELIVERY_RETRY_BASE_MS) {
    throw new ConfigError('Invalid configuration: DELIVERY_RETRY_MAX_MS must be at least DELIVERY_RETRY_BASE_MS');
  }
  return {
    smtpUrl: smtpUrl === '' ? null : smtpUrl,
    smtpFrom: parsed.SMTP_FROM,
    deliveryAttemptsMax: parsed.DELIVERY_ATTEMPTS_MAX,
    deliveryRetryBaseMs: parsed.DELIVERY_RETRY_BASE_MS,
    deliveryRetryMaxMs: parsed.DELIVERY_RETRY_MAX_MS,
    deliveryPollIntervalMs: parsed.DELIVERY_POLL_INTERVAL_MS,
    webhookTimeoutMs: parsed.WEBHOOK_TIMEOUT_MS,
    webhookPrivateAddressesAllowed: (parsed.WEBHOOK_PRIVATE_ADDRESSES ?? (nodeEnv === 'production' ? 'deny' : 'allow')) === 'allow',
  };
}
