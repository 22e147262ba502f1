/**
 * Registration throttle per client: `registerUser` answers whether an email is taken, so sign-ups
 * from one client address are limited (RATE_LIMIT_REGISTRATIONS_PER_HOUR). The address is the one
 * the gateway forwards signed (clientAddressOf), else the socket peer. Counters live in memory, or
 * in Redis with REDIS_URL so every users instance shares them; each consume is atomic in its store.
 * Admins creating users are not throttled. RATE_LIMITS=off switches it off.
 */
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { PlatformConfig } from '@paygraph/config';
import { rateLimited } from '@paygraph/errors';
import type { Logger } from '@paygraph/logging';

const HOUR_SECONDS = 3_600;
const REDIS_COMMAND_TIMEOUT_MS = 500;

export interface RegistrationThrottle {
  /** Spends one registration of this client's budget; RATE_LIMITED when it is spent. */
  consume(clientAddress: string): Promise<void>;
  close(): Promise<void>;
}

export function createRegistrationThrottle(
  config: Pick<PlatformConfig, 'RATE_LIMITS' | 'REDIS_URL' | 'RATE_LIMIT_PREFIX' | 'RATE_LIMIT_REGISTRATIONS_PER_HOUR'>,
  logger: Logger,
): RegistrationThrottle {
  if (config.RATE_LIMITS === 'off') {
    logger.warn('RATE_LIMITS=off: registrations are not throttled');
    return { consume: async () => {}, close: async () => {} };
  }
  const redis = config.REDIS_URL ? new Redis(config.REDIS_URL, { enableOfflineQueue: false, commandTimeout: REDIS_COMMAND_TIMEOUT_MS, maxRetriesPerRequest: 1 }) : null;
  redis?.on('error', (error: Error) => logger.warn({ err: error }, 'rate-limit store (Redis) error; registrations throttled per process'));
  const options = { keyPrefix: `${config.RATE_LIMIT_PREFIX}:users:registrations`, points: config.RATE_LIMIT_REGISTRATIONS_PER_HOUR, duration: HOUR_SECONDS };
  const memory = new RateLimiterMemory(options);
  const limiter: RateLimiterAbstract = redis ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: memory, rejectIfRedisNotReady: true }) : memory;
  return {
    async consume(clientAddress) {
      try {
        await limiter.consume(clientAddress);
      } catch (outcome) {
        if (!(outcome instanceof RateLimiterRes)) {
          logger.error({ err: outcome }, 'registration throttle failed');
          return;
        }
        const retryAfterSeconds = Math.max(1, Math.ceil(outcome.msBeforeNext / 1000));
        throw rateLimited(`Too many registrations from this client: try again in ${retryAfterSeconds} s.`, retryAfterSeconds);
      }
    },
    async close() {
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
