// Proves docker-compose.yml describes a deployment that heals and keeps its secrets out of the file:
// it parses the file (anchors merged, as Docker does) and checks healthchecks on /ready, restart
// policies, start order on health, volumes for PostgreSQL and NATS, two payments instances behind
// the gateway, only the gateway published, no literal secret and only settings the code reads;
// and that the optional observability profile (Prometheus, Grafana, collector, Jaeger) mounts files
// that exist, scrapes every service and sends traces only when asked.
import { existsSync, readFileSync } from 'node:fs';
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
  profiles?: string[];
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
/** The platform (no profile): what `docker compose up` starts. The observability profile is optional. */
const platformServices = services.filter(([, service]) => service.profiles === undefined);
const observabilityServices = services.filter(([, service]) => service.profiles?.includes('observability'));

/** Every variable the code reads: packages/config's settings and the service list's overrides. */
const knownSettings = new Set<string>([
  ...Object.values(envSchemas).flatMap((group) => Object.keys(group)),
  ...serviceList.flatMap((entry) => ['URL', 'PORT', 'DATABASE_URL'].map((suffix) => `${entry.name.toUpperCase()}_${suffix}`)),
]);
/** A service's own settings module may add its variables (notifications: SMTP_URL, SMTP_FROM...). */
const ownSettingsFiles: Record<string, string> = {
  notifications: readFileSync(path.join(repositoryRoot, 'subgraphs/notifications/src/settings.ts'), 'utf8'),
};
/** Every service reads the OpenTelemetry variables its telemetry settings module documents. */
const telemetrySettingsFile = readFileSync(path.join(repositoryRoot, 'packages/telemetry/src/settings.ts'), 'utf8');

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
        const known = knownSettings.has(key) || own.includes(key) || (key.startsWith('OTEL_') && telemetrySettingsFile.includes(key));
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
    for (const [name, service] of platformServices) {
      if (name === 'gateway') {
        expect(service.ports).toEqual(['4000:4000']);
      } else {
        expect(service.ports, `${name} publishes a port`).toBeUndefined();
      }
      expect(service.networks, `${name} is not on the internal network`).toContain('internal');
    }
    const onEdge = platformServices.filter(([, service]) => service.networks?.includes('edge')).map(([name]) => name);
    // The gateway for its port, notifications for its way out (SMTP, webhooks).
    expect(onEdge.sort()).toEqual(['gateway', 'notifications']);
  });
});

describe('docker-compose.yml, profile observability', () => {
  const exists = (file: string) => existsSync(path.join(repositoryRoot, file));
  /** `./host/path:/container/path[:ro]` -> the repository file or folder it mounts (named volumes: null). */
  const mountedFile = (volume: string) => (volume.startsWith('./') ? volume.split(':')[0]!.slice(2) : null);

  it('adds Prometheus, Grafana, an OpenTelemetry collector and Jaeger, in that profile only', () => {
    expect(observabilityServices.map(([name]) => name).sort()).toEqual(['grafana', 'jaeger', 'otel-collector', 'prometheus']);
    for (const [name, service] of platformServices) expect(service.profiles, name).toBeUndefined();
  });

  it('mounts only files that exist in the repository, read-only, and keeps its data on named volumes', () => {
    for (const [name, service] of observabilityServices) {
      for (const volume of service.volumes ?? []) {
        const file = mountedFile(volume);
        if (file === null) {
          expect(Object.keys(compose.volumes ?? {}), `${name}: ${volume}`).toContain(volume.split(':')[0]);
          continue;
        }
        expect(exists(file), `${name} mounts ${file}`).toBe(true);
        expect(volume.endsWith(':ro'), `${name} mounts ${file} read-only`).toBe(true);
      }
    }
    const mounts = observabilityServices.flatMap(([, service]) => (service.volumes ?? []).map(mountedFile));
    for (const file of ['deploy/prometheus/prometheus.yml', 'deploy/grafana/dashboards', 'deploy/grafana/provisioning/datasources', 'deploy/grafana/provisioning/dashboards', 'deploy/otel-collector/config.yaml']) {
      expect(mounts).toContain(file);
    }
  });

  it('scrapes every service instance of the compose file on its port, one job per service', () => {
    const scrape = parse(readFileSync(path.join(repositoryRoot, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = new Map(scrape.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((config) => config.targets)]));
    for (const [name, service] of nodeServices) {
      const port = service.environment?.PORT ?? Object.entries(service.environment ?? {}).find(([key]) => key.endsWith('_PORT'))?.[1];
      const job = name.replace(/-\d+$/, '');
      expect(targets.get(job), `job ${job}`).toContain(`${name}:${port}`);
    }
    expect([...targets.keys()].sort()).toEqual([...new Set(nodeServices.map(([name]) => name.replace(/-\d+$/, '')))].sort());
    expect(scrape.scrape_configs.every((job) => (job.metrics_path ?? '/metrics') === '/metrics')).toBe(true);
  });

  it('provisions the Prometheus datasource and the dashboard folder Grafana mounts', () => {
    const datasources = parse(readFileSync(path.join(repositoryRoot, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as { datasources: { uid: string; type: string; url: string }[] };
    const prometheus = datasources.datasources.find((datasource) => datasource.type === 'prometheus')!;
    expect(prometheus.url).toBe('http://prometheus:9090');
    const dashboard = JSON.parse(readFileSync(path.join(repositoryRoot, 'deploy/grafana/dashboards/paygraph.json'), 'utf8')) as { panels: { datasource?: { uid?: string } }[] };
    for (const panel of dashboard.panels) if (panel.datasource) expect(panel.datasource.uid).toBe(prometheus.uid);
    const providers = parse(readFileSync(path.join(repositoryRoot, 'deploy/grafana/provisioning/dashboards/paygraph.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
    const grafanaVolumes = compose.services.grafana!.volumes ?? [];
    expect(grafanaVolumes).toContain(`./deploy/grafana/dashboards:${providers.providers[0]!.options.path}:ro`);
  });

  it('sends traces to the collector only when asked, and the collector exports them to Jaeger over OTLP', () => {
    for (const [name, service] of nodeServices) expect(service.environment?.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe('${OTEL_EXPORTER_OTLP_ENDPOINT:-}');
    expect(text).toContain('OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318 docker compose --profile observability up -d');
    const collector = parse(readFileSync(path.join(repositoryRoot, 'deploy/otel-collector/config.yaml'), 'utf8')) as {
      receivers: { otlp: { protocols: { http: { endpoint: string } } } };
      exporters: Record<string, { endpoint: string }>;
      service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } };
    };
    expect(collector.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    const [exporter] = collector.service.pipelines.traces.exporters;
    expect(collector.exporters[exporter!]!.endpoint).toBe('jaeger:4317');
    expect(compose.services.jaeger!.environment!.COLLECTOR_OTLP_ENABLED).toBe('true');
    expect(compose.services['otel-collector']!.networks).toEqual(['internal']);
  });

  it('publishes its UIs on the loopback address only', () => {
    for (const [name, service] of observabilityServices) {
      for (const port of service.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
  });
});
