// Proves docker-compose.yml describes a deployment that heals and keeps its secrets out of the file:
// it parses the file (anchors merged, as Docker does) and checks healthchecks on /ready, restart
// policies, start order on health, volumes for PostgreSQL and NATS, two payments instances behind
// the gateway, only the gateway published, no literal secret and only settings the code reads.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envSchemas, loadServiceList, repositoryRoot } from '@paygraph/config';

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  restart?: string;
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] | string };
  depends_on?: Record<string, { condition?: string }> | string[];
  ports?: string[];
  networks?: string[];
  volumes?: string[];
}

const text = readFileSync(path.join(repositoryRoot, 'docker-compose.yml'), 'utf8');
const compose = parse(text, { merge: true, maxAliasCount: 1_000 }) as {
  services: Record<string, ComposeService>;
  networks?: Record<string, { internal?: boolean } | null>;
  volumes?: Record<string, unknown>;
};
const services = Object.entries(compose.services);
const serviceList = loadServiceList({});
const nodeServices = services.filter(([, service]) => service.build !== undefined);

/** Every variable the code reads: packages/config's settings and the service list's overrides. */
const knownSettings = new Set<string>([
  ...Object.values(envSchemas).flatMap((group) => Object.keys(group)),
  ...serviceList.flatMap((entry) => ['URL', 'PORT', 'DATABASE_URL'].map((suffix) => `${entry.name.toUpperCase()}_${suffix}`)),
]);
/** A service's own settings module may add its variables (notifications: SMTP_URL, SMTP_FROM...). */
const ownSettingsFiles: Record<string, string> = {
  notifications: readFileSync(path.join(repositoryRoot, 'subgraphs/notifications/src/settings.ts'), 'utf8'),
};

const healthcheckText = (service: ComposeService) => {
  const test = service.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : (test ?? '');
};

describe('docker-compose.yml', () => {
  it.each(services.map(([name]) => name))('%s has a healthcheck and restarts unless stopped', (name) => {
    const service = compose.services[name]!;
    expect(service.restart).toBe('unless-stopped');
    expect(healthcheckText(service)).not.toBe('');
  });

  it.each(nodeServices.map(([name]) => name))('%s is healthy only when its /ready answers', (name) => {
    const service = compose.services[name]!;
    const port = service.environment?.PORT ?? Object.entries(service.environment ?? {}).find(([key]) => key.endsWith('_PORT'))?.[1];
    expect(port).toBeDefined();
    expect(healthcheckText(service)).toContain(`http://127.0.0.1:${port}/ready`);
  });

  it('starts a service only after what it depends on is healthy', () => {
    for (const [name, service] of services) {
      if (service.depends_on === undefined) continue;
      expect(Array.isArray(service.depends_on), `${name} lists depends_on without conditions`).toBe(false);
      for (const [dependency, rule] of Object.entries(service.depends_on)) {
        expect(compose.services[dependency], `${name} depends on unknown ${dependency}`).toBeDefined();
        expect(rule.condition, `${name} -> ${dependency}`).toBe('service_healthy');
      }
    }
  });

  it('keeps PostgreSQL data and NATS JetStream storage on named volumes, NATS checked on /healthz', () => {
    const postgres = compose.services.postgres!;
    const nats = compose.services.nats!;
    expect(postgres.volumes).toContain('postgres-data:/var/lib/postgresql/data');
    const natsVolume = nats.volumes?.find((volume) => volume.startsWith('nats-data:'));
    expect(natsVolume).toBeDefined();
    const storeDirectory = nats.command![nats.command!.indexOf('-sd') + 1];
    expect(nats.command).toContain('-js');
    expect(natsVolume!.split(':')[1]).toBe(storeDirectory);
    expect(Object.keys(compose.volumes ?? {})).toEqual(expect.arrayContaining(['postgres-data', 'nats-data']));
    expect(healthcheckText(nats)).toContain('8222/healthz');
  });

  it('holds no secret literal: the service secret and database password come from the environment', () => {
    for (const [name, service] of services) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (!/SECRET|PASSWORD/.test(key)) continue;
        expect(value, `${name}.${key}`).toMatch(/^\$\{[A-Z_]+(:\?[^}]+|:-)\}$/);
      }
      const databaseUrl = service.environment?.DATABASE_URL;
      if (databaseUrl) expect(databaseUrl).toMatch(/^postgres:\/\/postgres:\$\{POSTGRES_PASSWORD:\?[^}]+\}@/);
    }
    expect(compose.services.gateway!.environment!.SERVICE_SECRET).toMatch(/^\$\{SERVICE_SECRET:\?/);
    expect(text).not.toMatch(/change-me/i);
  });

  it('sets only variables the code reads', () => {
    for (const [name, service] of nodeServices) {
      const own = ownSettingsFiles[name.replace(/-\d+$/, '')] ?? '';
      for (const key of Object.keys(service.environment ?? {})) {
        const known = knownSettings.has(key) || own.includes(key);
        expect(known, `${name} sets ${key}, which no settings module reads`).toBe(true);
      }
    }
  });

  it('runs two payments instances sharing one database, and points the gateway at both', () => {
    const instances = Object.keys(compose.services).filter((name) => /^payments-\d+$/.test(name));
    expect(instances).toEqual(['payments-1', 'payments-2']);
    expect(compose.services['payments-1']!.environment!.DATABASE_URL).toBe(compose.services['payments-2']!.environment!.DATABASE_URL);
    const gateway = compose.services.gateway!;
    expect(gateway.environment!.PAYMENTS_URL).toBe('http://payments-1:4006/graphql,http://payments-2:4006/graphql');
    const parsed = loadServiceList(gateway.environment!).find((entry) => entry.name === 'payments')!;
    expect(parsed.urls).toEqual(['http://payments-1:4006/graphql', 'http://payments-2:4006/graphql']);
    expect(Object.keys(gateway.depends_on ?? {})).toEqual(expect.arrayContaining(instances));
    expect(text).toMatch(/To run N\s+# instances of any service/);
  });

  it('publishes only the gateway and keeps the rest on an internal network', () => {
    expect(compose.networks?.internal?.internal).toBe(true);
    for (const [name, service] of services) {
      if (name === 'gateway') {
        expect(service.ports).toEqual(['4000:4000']);
      } else {
        expect(service.ports, `${name} publishes a port`).toBeUndefined();
      }
      expect(service.networks, `${name} is not on the internal network`).toContain('internal');
    }
    const onEdge = services.filter(([, service]) => service.networks?.includes('edge')).map(([name]) => name);
    // The gateway for its port, notifications for its way out (SMTP, webhooks).
    expect(onEdge.sort()).toEqual(['gateway', 'notifications']);
  });
});
