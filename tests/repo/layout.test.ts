// Proves the deployment files agree with the service list: every subgraph of supergraph.yaml has a
// docker-compose service started with its own workspace, a routing URL override pointing at that
// service, and an implementation that `npm start` runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadServiceList, repositoryRoot } from '@paygraph/config';

const compose = parse(readFileSync(path.join(repositoryRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { command?: string[]; environment?: Record<string, string> }>;
};
const services = loadServiceList({});

describe('docker-compose.yml', () => {
  it.each(services.map((service) => service.name))('runs subgraph %s as its own service', (name) => {
    const service = compose.services[name];
    expect(service, `docker-compose.yml has no service ${name}`).toBeDefined();
    expect(service!.command).toEqual(['npm', 'start', '-w', `subgraphs/${name}`]);
    const env = service!.environment!;
    expect(env[`${name.toUpperCase()}_URL`]).toBe(`http://${name}:${new URL(services.find((entry) => entry.name === name)!.url).port}/graphql`);
  });

  it('runs the gateway from the static supergraph and PostgreSQL', () => {
    expect(compose.services.gateway!.environment!.SUPERGRAPH_SOURCE).toBe('static');
    expect(compose.services.postgres).toBeDefined();
  });
});

describe('npm start', () => {
  it('implements every subgraph of the service list', async () => {
    const { serviceDefinitions } = await import('../../scripts/platform');
    expect(Object.keys(serviceDefinitions).sort()).toEqual(services.map((service) => service.name).sort());
  });

  it('has a schema file for every subgraph', () => {
    for (const service of services) expect(readFileSync(service.schemaFile, 'utf8')).toContain('@link(url: "https://specs.apollo.dev/federation/v2');
  });
});
