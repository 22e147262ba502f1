/**
 * Rate limits per client at the gateway: one budget for every GraphQL request and tighter ones for
 * logins, registrations and money-moving mutations. rate-limiter-flexible keeps the counters in
 * memory (one process) or, with REDIS_URL, in Redis so several gateways share them; each consume
 * is one atomic operation in the store, so concurrent requests cannot overspend a budget.
 */
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { PlatformConfig } from '@paygraph/config';
import type { Logger } from '@paygraph/logging';

export type RateLimitSettings = Pick<
  PlatformConfig,
  | 'RATE_LIMITS'
  | 'REDIS_URL'
  | 'RATE_LIMIT_PREFIX'
  | 'RATE_LIMIT_REQUESTS_PER_MINUTE'
  | 'RATE_LIMIT_LOGINS_PER_MINUTE'
  | 'RATE_LIMIT_REGISTRATIONS_PER_HOUR'
  | 'RATE_LIMIT_MONEY_MUTATIONS_PER_MINUTE'
>;

export type LimitName = 'requests' | 'logins' | 'registrations' | 'moneyMutations';

export type Consumed = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimits {
  readonly enabled: boolean;
  /** Spends `points` of `name`'s budget for `clientKey`, atomically. */
  consume(name: LimitName, clientKey: string, points?: number): Promise<Consumed>;
  close(): Promise<void>;
}

const MINUTE_SECONDS = 60;
const HOUR_SECONDS = 3_600;
/** A Redis command that takes longer than this falls back to the in-memory limiter for that call. */
const REDIS_COMMAND_TIMEOUT_MS = 500;

function budgets(settings: RateLimitSettings): Record<LimitName, { points: number; durationSeconds: number }> {
  return {
    requests: { points: settings.RATE_LIMIT_REQUESTS_PER_MINUTE, durationSeconds: MINUTE_SECONDS },
    logins: { points: settings.RATE_LIMIT_LOGINS_PER_MINUTE, durationSeconds: MINUTE_SECONDS },
    registrations: { points: settings.RATE_LIMIT_REGISTRATIONS_PER_HOUR, durationSeconds: HOUR_SECONDS },
    moneyMutations: { points: settings.RATE_LIMIT_MONEY_MUTATIONS_PER_MINUTE, durationSeconds: MINUTE_SECONDS },
  };
}

export function createRateLimits(settings: RateLimitSettings, logger: Logger): RateLimits {
  if (settings.RATE_LIMITS === 'off') {
    logger.warn('RATE_LIMITS=off: rate limits and login throttles are switched off (load tests and benchmarks only)');
    return { enabled: false, consume: async () => ({ allowed: true }), close: async () => {} };
  }
  // enableOfflineQueue off: while Redis is unreachable a consume fails at once and the in-memory
  // insurance limiter answers, instead of requests queueing behind a dead connection.
  const redis = settings.REDIS_URL
    ? new Redis(settings.REDIS_URL, { enableOfflineQueue: false, commandTimeout: REDIS_COMMAND_TIMEOUT_MS, maxRetriesPerRequest: 1 })
    : null;
  redis?.on('error', (error: Error) => logger.warn({ err: error }, 'rate-limit store (Redis) error; limits fall back to this process'));
  const limiters = {} as Record<LimitName, RateLimiterAbstract>;
  for (const [name, budget] of Object.entries(budgets(settings)) as [LimitName, { points: number; durationSeconds: number }][]) {
    const keyPrefix = `${settings.RATE_LIMIT_PREFIX}:${name}`;
    const memory = new RateLimiterMemory({ keyPrefix, points: budget.points, duration: budget.durationSeconds });
    limiters[name] = redis
      ? new RateLimiterRedis({ storeClient: redis, keyPrefix, points: budget.points, duration: budget.durationSeconds, insuranceLimiter: memory, rejectIfRedisNotReady: true })
      : memory;
  }
  return {
    enabled: true,
    async consume(name, clientKey, points = 1) {
      try {
        await limiters[name].consume(clientKey, points);
        return { allowed: true };
      } catch (outcome) {
        if (outcome instanceof RateLimiterRes) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(outcome.msBeforeNext / 1000)) };
        // Both stores failed (a bug, not a busy client): log it and let the request through.
        logger.error({ err: outcome, limit: name }, 'rate limiter failed');
        return { allowed: true };
      }
    },
    async close() {
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
