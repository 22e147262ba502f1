import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ConfigError } from './env';

export interface ServiceEntry {
  name: string;
  /** Where the gateway and other services reach this subgraph's GraphQL endpoint. */
  url: string;
  /** The port this subgraph listens on when started by this configuration. */
  port: number;
  /** The subgraph's SDL file, absolute. */
  schemaFile: string;
}
export type ServiceList = ServiceEntry[];

export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const defaultConfigFile = path.join(repositoryRoot, 'schema/supergraph.yaml');

const envName = (service: string) => service.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/**
 * Reads the service list in Rover's supergraph config format. For each subgraph `<NAME>_URL`
 * overrides its routing URL and `<NAME>_PORT` its listening port (and the port of the routing URL
 * when no URL override is given).
 */
export function loadServiceList(env: NodeJS.ProcessEnv = process.env, configFile = defaultConfigFile): ServiceList {
  const document = parse(readFileSync(configFile, 'utf8')) as {
    subgraphs?: Record<string, { routing_url?: string; schema?: { file?: string } }>;
  };
  const entries = Object.entries(document.subgraphs ?? {});
  if (entries.length === 0) throw new ConfigError(`Invalid configuration: ${configFile} lists no subgraphs`);
  return entries.map(([name, definition]) => {
    const routingUrl = definition.routing_url;
    const schemaFile = definition.schema?.file;
    if (!routingUrl || !schemaFile) {
      throw new ConfigError(`Invalid configuration: subgraph ${name} in ${configFile} needs routing_url and schema.file`);
    }
    const urlOverride = env[`${envName(name)}_URL`];
    const portOverride = env[`${envName(name)}_PORT`];
    let url: URL;
    try {
      url = new URL(urlOverride || routingUrl);
    } catch {
      throw new ConfigError(`Invalid configuration: ${envName(name)}_URL must be a URL (got ${JSON.stringify(urlOverride)})`);
    }
    let port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    if (portOverride) {
      port = Number(portOverride);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new ConfigError(`Invalid configuration: ${envName(name)}_PORT must be a port number (got ${JSON.stringify(portOverride)})`);
      }
      if (!urlOverride) url.port = String(port);
    }
    return { name, url: url.toString(), port, schemaFile: path.resolve(path.dirname(configFile), schemaFile) };
  });
}
