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
});
