// Proves the Kubernetes manifests under deploy/k8s describe the platform's shape safely, with no
// cluster: it parses every file kustomization.yaml lists and checks a Deployment and Service per
// subgraph and for the gateway, probes on /ready and /health, requests and limits, non-root
// containers, secrets only from the Secret, two payments replicas and settings the code reads.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { envSchemas, loadServiceList, repositoryRoot } from '@paygraph/config';

const SECRET_NAME = 'paygraph-secrets';
const directory = path.join(repositoryRoot, 'deploy/k8s');

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: unknown };
}
interface Probe {
  httpGet?: { path?: string; port?: number | string };
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; allowPrivilegeEscalation?: boolean };
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> } | Record<string, string>;
    ports?: { port: number; targetPort?: number | string }[];
    template?: { metadata?: { labels?: Record<string, string> }; spec: { securityContext?: { runAsNonRoot?: boolean; runAsUser?: number }; containers: Container[] } };
  };
}

const kustomization = parse(readFileSync(path.join(directory, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
const manifests: Manifest[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(readFileSync(path.join(directory, file), 'utf8')).map((document) => {
    expect(document.errors, file).toEqual([]);
    return document.toJS() as Manifest;
  }),
);
const ofKind = (kind: string) => manifests.filter((manifest) => manifest.kind === kind);
const deployments = ofKind('Deployment');
const containers = deployments.flatMap((deployment) => deployment.spec!.template!.spec.containers.map((container) => ({ deployment, container })));
const serviceList = loadServiceList({});
const configMap = ofKind('ConfigMap').find((manifest) => manifest.metadata.name === 'paygraph-config')!;

const knownSettings = new Set<string>([
  ...Object.values(envSchemas).flatMap((group) => Object.keys(group)),
  ...serviceList.flatMap((entry) => ['URL', 'PORT', 'DATABASE_URL'].map((suffix) => `${entry.name.toUpperCase()}_${suffix}`)),
]);
const notificationSettings = readFileSync(path.join(repositoryRoot, 'subgraphs/notifications/src/settings.ts'), 'utf8');

describe('deploy/k8s', () => {
  it('applies every manifest file in the folder', () => {
    const files = readdirSync(directory).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it('has a Deployment and a Service per subgraph and for the gateway, the Service on the container port', () => {
    for (const name of [...serviceList.map((entry) => entry.name), 'gateway']) {
      const deployment = deployments.find((manifest) => manifest.metadata.name === name);
      const service = ofKind('Service').find((manifest) => manifest.metadata.name === name);
      expect(deployment, `no Deployment ${name}`).toBeDefined();
      expect(service, `no Service ${name}`).toBeDefined();
      const container = deployment!.spec!.template!.spec.containers[0]!;
      expect(container.command).toEqual(['npm', 'start', '-w', name === 'gateway' ? 'gateway' : `subgraphs/${name}`]);
      const selector = service!.spec!.selector as Record<string, string>;
      expect(deployment!.spec!.template!.metadata!.labels).toMatchObject(selector);
      const port = name === 'gateway' ? 4000 : Number(new URL(serviceList.find((entry) => entry.name === name)!.url).port);
      expect(service!.spec!.ports![0]!.port).toBe(port);
      expect(container.ports).toContainEqual({ name: 'http', containerPort: port });
      if (name !== 'gateway') expect(configMap.data![`${name.toUpperCase()}_URL`]).toBe(`http://${name}:${port}/graphql`);
    }
  });

  it('runs two payments replicas, and keeps one of them (and of the gateway) through a drain', () => {
    expect(deployments.find((manifest) => manifest.metadata.name === 'payments')!.spec!.replicas).toBe(2);
    for (const name of ['payments', 'gateway']) {
      const budget = ofKind('PodDisruptionBudget').find((manifest) => manifest.metadata.name === name) as (Manifest & { spec: { minAvailable?: number } }) | undefined;
      expect(budget?.spec.minAvailable, `PodDisruptionBudget ${name}`).toBe(1);
    }
  });

  it.each(containers.map(({ container }) => container.name))('container %s has readiness on /ready and liveness on /health', (name) => {
    const { container } = containers.find((entry) => entry.container.name === name)!;
    expect(container.readinessProbe?.httpGet?.path).toBe('/ready');
    expect(container.livenessProbe?.httpGet?.path).toBe('/health');
    expect(container.readinessProbe?.httpGet?.port).toBe('http');
  });

  it.each(containers.map(({ container }) => container.name))('container %s has cpu and memory requests and limits', (name) => {
    const { container } = containers.find((entry) => entry.container.name === name)!;
    for (const bound of ['requests', 'limits'] as const) {
      expect(container.resources?.[bound]?.cpu, `${name} ${bound}.cpu`).toBeDefined();
      expect(container.resources?.[bound]?.memory, `${name} ${bound}.memory`).toBeDefined();
    }
  });

  it('runs the image as its non-root user, the uid the manifests name', () => {
    const dockerfile = readFileSync(path.join(repositoryRoot, 'Dockerfile'), 'utf8');
    // The node images' `node` user is uid 1000.
    expect(dockerfile).toMatch(/^USER node$/m);
    for (const { deployment } of containers) expect(deployment.spec!.template!.spec.securityContext?.runAsUser).toBe(1000);
  });

  it.each(containers.map(({ container }) => container.name))('container %s runs as a non-root user', (name) => {
    const { deployment, container } = containers.find((entry) => entry.container.name === name)!;
    const pod = deployment.spec!.template!.spec.securityContext;
    expect(container.securityContext?.runAsNonRoot ?? pod?.runAsNonRoot).toBe(true);
    expect(container.securityContext?.runAsUser ?? pod?.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
  });

  it.each(containers.map(({ container }) => container.name))('container %s reads its secrets from the Secret only', (name) => {
    const { container } = containers.find((entry) => entry.container.name === name)!;
    const variables = container.env ?? [];
    const secret = variables.find((variable) => variable.name === 'SERVICE_SECRET');
    expect(secret?.valueFrom?.secretKeyRef).toEqual({ name: SECRET_NAME, key: 'SERVICE_SECRET' });
    for (const variable of variables) {
      if (/SECRET|PASSWORD|DATABASE_URL|SMTP_URL/.test(variable.name)) {
        expect(variable.value, `${name} sets ${variable.name} literally`).toBeUndefined();
        expect(variable.valueFrom?.secretKeyRef?.name).toBe(SECRET_NAME);
      }
    }
    if (name !== 'gateway') expect(variables.find((variable) => variable.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef?.key).toBe('DATABASE_URL');
    // The ConfigMap carries settings only, never a credential.
    for (const key of Object.keys(configMap.data ?? {})) expect(key).not.toMatch(/SECRET|PASSWORD|DATABASE_URL/);
    expect(ofKind('Secret'), 'secrets are created by the operator, not committed').toEqual([]);
  });

  it('reaches PostgreSQL and NATS by URL (external dependencies) and sets only settings the code reads', () => {
    expect(deployments.map((manifest) => manifest.metadata.name)).not.toContain('postgres');
    expect(deployments.map((manifest) => manifest.metadata.name)).not.toContain('nats');
    expect(configMap.data!.NATS_URL).toMatch(/^nats:\/\//);
    for (const key of Object.keys(configMap.data!)) expect(knownSettings.has(key), `ConfigMap key ${key}`).toBe(true);
    for (const { container } of containers) {
      for (const variable of container.env ?? []) {
        expect(knownSettings.has(variable.name) || notificationSettings.includes(variable.name), `${container.name} sets ${variable.name}`).toBe(true);
      }
      expect(container.envFrom).toContainEqual({ configMapRef: { name: 'paygraph-config' } });
    }
  });
});
