import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ConfigError } from './env';

export interface ServiceEntry {
  name: string;
  /** Where the gateway and other services reach this subgraph's GraphQL endpoint (its first instance). */
  url: string;
  /**
   * Every instance of this subgraph, in the order given (`url` is the first): `<NAME>_URL` may list
   * several, comma-separated; callers spread requests over them and fail over between them.
   */
  urls: string[];
  /** The port this subgraph listens on when started by this configuration. */
  port: number;
  /** The subgraph's SDL file, absolute. */
  schemaFile: string;
}
export type ServiceList = ServiceEntry[];

export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const defaultConfigFile = path.join(repositoryRoot, 'schema/supergraph.yaml');

const envName = (service: string) => service.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/** Bounded: instances listed in one `<NAME>_URL` (each gets a health probe in every caller). */
export const SERVICE_INSTANCES_MAX = 32;

/**
 * Reads the service list in Rover's supergraph config format. For each subgraph `<NAME>_URL`
 * overrides its routing URL and `<NAME>_PORT` its listening port (and the port of the routing URL
 * when no URL override is given). `<NAME>_URL` may list several instances, comma-separated
 * (`http://payments-1:4006/graphql,http://payments-2:4006/graphql`); the listening port then
 * follows the first unless `<NAME>_PORT` says otherwise (each instance sets its own).
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
    const variable = `${envName(name)}_URL`;
    const urlOverrides = (env[variable] ?? '')
      .split(',')
      .map((value) => value.trim())
      .filter((value) => value !== '');
    if (urlOverrides.length > SERVICE_INSTANCES_MAX) {
      throw new ConfigError(`Invalid configuration: ${variable} lists ${urlOverrides.length} URLs, at most ${SERVICE_INSTANCES_MAX}`);
    }
    const portOverride = env[`${envName(name)}_PORT`];
    const parseUrl = (value: string) => {
      try {
        const url = new URL(value);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
        return url;
      } catch {
        throw new ConfigError(`Invalid configuration: ${variable} must be a URL, or several comma-separated, http or https (got ${JSON.stringify(value)})`);
      }
    };
    const urls = urlOverrides.length > 0 ? urlOverrides.map(parseUrl) : [parseUrl(routingUrl)];
    const url = urls[0]!;
    let port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    if (portOverride) {
      port = Number(portOverride);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new ConfigError(`Invalid configuration: ${envName(name)}_PORT must be a port number (got ${JSON.stringify(portOverride)})`);
      }
      if (urlOverrides.length === 0) url.port = String(port);
    }
    const instances = [...new Set(urls.map((entry) => entry.toString()))];
    return { name, url: instances[0]!, urls: instances, port, schemaFile: path.resolve(path.dirname(configFile), schemaFile) };
  });
}
