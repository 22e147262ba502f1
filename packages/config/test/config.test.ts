// Proves configuration fails fast with one clear line naming the variable, applies defaults, and
// resolves the service list with its environment overrides.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadPlatformConfig, loadServiceList } from '../src';

describe('loadPlatformConfig', () => {
  it('applies defaults', () => {
    const config = loadPlatformConfig({});
    expect(config.PORT).toBe(4000);
    expect(config.DATA_DIR).toBe('./.data');
    expect(config.dataDir).toMatch(/\.data$/);
    expect(config.ACCESS_TOKEN_TTL_SECONDS).toBe(900);
    expect(config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS).toBe(15_000);
  });

  it.each([
    [{ PORT: 'abc' }, /^Invalid configuration: PORT must be a port number \(got "abc"\)$/],
    [{ PORT: '70000' }, /PORT must be between 0 and 65535/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must be a postgres:\/\/ .*\(got "\*\*\*"\)/],
    [{ SERVICE_SECRET: 'short' }, /SERVICE_SECRET must be at least 32 characters \(got "\*\*\*"\)/],
    [{ ADMIN_EMAIL: 'a@b.co' }, /ADMIN_EMAIL and ADMIN_PASSWORD must be set together/],
    [{ DATABASE_POOL_MAX: '2' }, /DATABASE_POOL_MAX must be at least 3 \(an outbox relay holds one connection/],
    [{ DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '500' }, /DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS must be at least 1000 \(a busy machine/],
  ])('rejects %j with one line', (env, message) => {
    let error: unknown;
    try {
      loadPlatformConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('accepts a pool of 3, the smallest the two outbox relays of npm start and their statements can share', () => {
    expect(loadPlatformConfig({ DATABASE_POOL_MAX: '3' }).DATABASE_POOL_MAX).toBe(3);
  });

  it('reads TRUST_PROXY as off, a hop count or a list of addresses, ranges and keywords, and refuses anything else', () => {
    expect(loadPlatformConfig({}).TRUST_PROXY).toBe('off');
    for (const value of ['2', 'loopback', 'uniquelocal, 10.0.0.0/8', '203.0.113.7,2001:db8::/32']) expect(loadPlatformConfig({ TRUST_PROXY: value }).TRUST_PROXY).toBe(value);
    for (const value of ['0', '11', 'true', '10.0.0.0/33', 'example.com', '10.0.0.1/8/8']) expect(() => loadPlatformConfig({ TRUST_PROXY: value }), value).toThrow(/TRUST_PROXY/);
  });

  it('never echoes a secret value', () => {
    expect(() => loadPlatformConfig({ DATABASE_URL: 'mysql://user:hunter2@db' })).toThrow(/^(?!.*hunter2)/);
  });
});

describe('loadServiceList', () => {
  it('reads every subgraph with its routing URL, port and schema file', () => {
    const services = loadServiceList({});
    const users = services.find((service) => service.name === 'users');
    expect(users).toMatchObject({ url: 'http://127.0.0.1:4001/graphql', port: 4001 });
    expect(users?.schemaFile).toMatch(/subgraphs\/users\/src\/schema\.graphql$/);
  });

  it('lets <NAME>_PORT move the port and <NAME>_URL the routing URL', () => {
    const services = loadServiceList({ USERS_PORT: '5001', AUTH_URL: 'http://auth.internal:8080/graphql' });
    expect(services.find((service) => service.name === 'users')).toMatchObject({ url: 'http://127.0.0.1:5001/graphql', port: 5001 });
    expect(services.find((service) => service.name === 'auth')).toMatchObject({ url: 'http://auth.internal:8080/graphql', port: 8080 });
  });

  it('reads several comma-separated instances from <NAME>_URL, the first one as url and port', () => {
    const payments = loadServiceList({ PAYMENTS_URL: ' http://payments-1:4006/graphql, http://payments-2:4016/graphql ,' }).find(
      (service) => service.name === 'payments',
    );
    expect(payments).toMatchObject({
      url: 'http://payments-1:4006/graphql',
      urls: ['http://payments-1:4006/graphql', 'http://payments-2:4016/graphql'],
      port: 4006,
    });
    const second = loadServiceList({ PAYMENTS_URL: 'http://a:4006/graphql,http://b:4006/graphql', PAYMENTS_PORT: '4016' });
    expect(second.find((service) => service.name === 'payments')).toMatchObject({ port: 4016, urls: ['http://a:4006/graphql', 'http://b:4006/graphql'] });
    expect(loadServiceList({}).find((service) => service.name === 'users')!.urls).toEqual(['http://127.0.0.1:4001/graphql']);
    expect(() => loadServiceList({ PAYMENTS_URL: 'http://a:1/graphql,ftp://b/graphql' })).toThrow(/PAYMENTS_URL must be a URL/);
  });

  it('rejects a bad override clearly', () => {
    expect(() => loadServiceList({ USERS_PORT: 'x' })).toThrow(/^Invalid configuration: USERS_PORT must be a port number/);
    expect(() => loadServiceList({ AUTH_URL: 'not a url' })).toThrow(/AUTH_URL must be a URL/);
  });
});
