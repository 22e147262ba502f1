/**
 * The platform as the tests start it: in this process on free ports, embedded PGlite in memory
 * unless DATABASE_URL is set (then the real server, shared by every test; tests never truncate).
 */
import { loadServiceList } from '@paygraph/config';
import { createLogger } from '@paygraph/logging';
import { startPlatform, type Platform, type PlatformOptions } from './platform';

export interface TestPlatformOptions {
  /** Added to the test environment (wins over it). */
  env?: Record<string, string>;
  gateway?: boolean;
  services?: PlatformOptions['services'];
  only?: PlatformOptions['only'];
  fakes?: PlatformOptions['fakes'];
  queryCounts?: PlatformOptions['queryCounts'];
}

export async function startTestPlatform(options: TestPlatformOptions = {}): Promise<Platform> {
  const ports = Object.fromEntries(loadServiceList({}).map((service) => [`${service.name.toUpperCase()}_PORT`, '0']));
  const env = {
    ...process.env,
    DATA_DIR: 'memory://',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Tests sign up and log in many users from 127.0.0.1: rate limits and login throttles are off
    // unless a test passes RATE_LIMITS=on (auth's throttle tests do).
    RATE_LIMITS: 'off',
    ...ports,
    ...options.env,
  };
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'test' });
  return startPlatform({
    env,
    logger,
    ...(options.gateway === undefined ? {} : { gateway: options.gateway }),
    ...(options.services ? { services: options.services } : {}),
    ...(options.only ? { only: options.only } : {}),
    ...(options.fakes ? { fakes: options.fakes } : {}),
    ...(options.queryCounts ? { queryCounts: options.queryCounts } : {}),
  });
}
