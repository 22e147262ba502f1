// Proves the deployment files agree with the service list: every subgraph of supergraph.yaml has a
// docker-compose service started with its own workspace, a routing URL override pointing at that
// service, and an implementation that `npm start` runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadServiceList, repositoryRoot } from '@paygraph/config';
// Imported with the file, not inside the test: loading every service takes seconds on a busy machine.
import { serviceDefinitions } from '@paygraph/platform';

const compose = parse(readFileSync(path.join(repositoryRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { command?: string[]; environment?: Record<string, string> }>;
};
const services = loadServiceList({});

describe('docker-compose.yml', () => {
  it.each(services.map((service) => service.name))('runs subgraph %s as its own service', (name) => {
    // A service runs as `<name>`, or as `<name>-1` ... `<name>-N` when it has several instances.
    const instances = Object.keys(compose.services).filter((key) => key === name || new RegExp(`^${name}-\\d+$`).test(key));
    expect(instances.length, `docker-compose.yml has no service ${name}`).toBeGreaterThan(0);
    const port = new URL(services.find((entry) => entry.name === name)!.url).port;
    for (const instance of instances) {
      const service = compose.services[instance]!;
      expect(service.command).toEqual(['npm', 'start', '-w', `subgraphs/${name}`]);
      expect(service.environment![`${name.toUpperCase()}_URL`]).toBe(instances.map((host) => `http://${host}:${port}/graphql`).join(','));
    }
  });

  it('runs the gateway from the static supergraph and PostgreSQL', () => {
    expect(compose.services.gateway!.environment!.SUPERGRAPH_SOURCE).toBe('static');
    expect(compose.services.postgres).toBeDefined();
  });
});

describe('npm start', () => {
  it('implements every subgraph of the service list', () => {
    expect(Object.keys(serviceDefinitions).sort()).toEqual(services.map((service) => service.name).sort());
  });

  it('has a schema file for every subgraph', () => {
    for (const service of services) expect(readFileSync(service.schemaFile, 'utf8')).toContain('@link(url: "https://specs.apollo.dev/federation/v2');
  });

  it("pins supergraph.yaml's federation_version to the composition we run, which knows every subgraph's @link", () => {
    // Rover composes with federation_version; `npm run compose` with the installed @apollo/composition.
    // Both must be the same, and at least the highest Federation version a subgraph links.
    const { federation_version: pinned } = parse(readFileSync(path.join(repositoryRoot, 'schema/supergraph.yaml'), 'utf8')) as { federation_version?: string };
    const composition = (JSON.parse(readFileSync(path.join(repositoryRoot, 'node_modules/@apollo/composition/package.json'), 'utf8')) as { version: string }).version;
    expect(pinned).toBe(`=${composition}`);
    const minor = (version: string) => version.split('.').slice(0, 2).map(Number) as [number, number];
    const linked = services.map((service) => {
      const match = /@link\(url: "https:\/\/specs\.apollo\.dev\/federation\/v(\d+\.\d+)"/.exec(readFileSync(service.schemaFile, 'utf8'));
      expect(match, `${service.name} links no Federation version`).not.toBeNull();
      return minor(match![1]!);
    });
    const [major, highest] = linked.reduce((a, b) => (a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]) ? a : b));
    const [pinnedMajor, pinnedMinor] = minor(pinned!.slice(1));
    expect(pinnedMajor * 1000 + pinnedMinor, `federation_version ${pinned} is older than the v${major}.${highest} a subgraph links`).toBeGreaterThanOrEqual(major * 1000 + highest);
  });
});
