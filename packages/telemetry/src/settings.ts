/**
 * The standard OpenTelemetry variables, read from the environment the process was given (tests pass
 * their own). Tracing is on only when an OTLP endpoint is set; everything else has the spec's
 * defaults. A value we cannot honour stops start-up with a one-line ConfigError, never silently.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | | full URL spans are posted to (used as is) |
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | | base URL; spans go to `<base>/v1/traces` |
 * | `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` | `http/protobuf` | `http/protobuf` or `http/json` (`grpc` is refused) |
 * | `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` | | `key=value,key2=value2` sent with every export |
 * | `OTEL_SERVICE_NAME` | the service's own name | `service.name` of a one-service process |
 * | `OTEL_RESOURCE_ATTRIBUTES` | | extra resource attributes, `key=value,...` |
 * | `OTEL_TRACES_SAMPLER` | `parentbased_always_on` | `always_on`, `always_off`, `traceidratio`, `parentbased_*` |
 * | `OTEL_TRACES_SAMPLER_ARG` | `1.0` | the ratio for the `traceidratio` samplers |
 * | `OTEL_BSP_SCHEDULE_DELAY` | `5000` | milliseconds between two exports of finished spans |
 * | `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER=none` | | off even with an endpoint |
 */
import { ConfigError } from '@paygraph/config';

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TraceSamplerName = (typeof TRACE_SAMPLERS)[number];

export interface TracingSettings {
  /** Where spans are posted (the traces URL itself). */
  tracesUrl: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  /** OTEL_SERVICE_NAME when set. */
  serviceName: string | undefined;
  resourceAttributes: Record<string, string>;
  sampler: TraceSamplerName;
  samplerRatio: number;
  /** OTEL_BSP_SCHEDULE_DELAY: how long finished spans wait to be exported together. */
  exportDelayMs: number;
}

const EXPORT_DELAY_MS_DEFAULT = 5_000;
const EXPORT_DELAY_MS_MAX = 60_000;

const TRACES_PATH = '/v1/traces';

/** `key=value,key2=value2` with percent-encoded values (the spec's format for headers and attributes). */
function keyValueList(name: string, value: string | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (!value) return result;
  for (const item of value.split(',')) {
    if (item.trim() === '') continue;
    const equals = item.indexOf('=');
    if (equals <= 0) throw new ConfigError(`Invalid configuration: ${name} must be key=value pairs separated by commas`);
    try {
      result[decodeURIComponent(item.slice(0, equals).trim())] = decodeURIComponent(item.slice(equals + 1).trim());
    } catch {
      throw new ConfigError(`Invalid configuration: ${name} has a badly percent-encoded value`);
    }
  }
  return result;
}

function httpUrl(name: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`Invalid configuration: ${name} must be an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`Invalid configuration: ${name} must be an http(s) URL`);
  return url;
}

const isTrue = (value: string | undefined) => value?.trim().toLowerCase() === 'true';

/** The tracing settings, or null when tracing is off (no endpoint, or switched off). */
export function tracingSettings(env: NodeJS.ProcessEnv): TracingSettings | null {
  if (isTrue(env.OTEL_SDK_DISABLED)) return null;
  const exporters = env.OTEL_TRACES_EXPORTER?.split(',').map((name) => name.trim().toLowerCase());
  if (exporters?.includes('none')) return null;
  if (exporters && exporters.some((name) => name !== 'otlp' && name !== '')) {
    throw new ConfigError('Invalid configuration: OTEL_TRACES_EXPORTER supports otlp (or none) only');
  }

  let tracesUrl: string;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    tracesUrl = httpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).href;
  } else if (env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    const base = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', env.OTEL_EXPORTER_OTLP_ENDPOINT);
    tracesUrl = `${base.href.replace(/\/+$/, '')}${TRACES_PATH}`;
  } else {
    return null;
  }

  const protocolName = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new ConfigError(`Invalid configuration: ${protocolName} must be http/protobuf or http/json (grpc is not supported here)`);
  }

  const sampler = (env.OTEL_TRACES_SAMPLER || 'parentbased_always_on').trim().toLowerCase();
  if (!(TRACE_SAMPLERS as readonly string[]).includes(sampler)) {
    throw new ConfigError(`Invalid configuration: OTEL_TRACES_SAMPLER must be one of ${TRACE_SAMPLERS.join(', ')}`);
  }
  let samplerRatio = 1;
  if (sampler.endsWith('traceidratio') && env.OTEL_TRACES_SAMPLER_ARG !== undefined && env.OTEL_TRACES_SAMPLER_ARG.trim() !== '') {
    samplerRatio = Number(env.OTEL_TRACES_SAMPLER_ARG);
    if (!Number.isFinite(samplerRatio) || samplerRatio < 0 || samplerRatio > 1) {
      throw new ConfigError('Invalid configuration: OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1');
    }
  }

  let exportDelayMs = EXPORT_DELAY_MS_DEFAULT;
  if (env.OTEL_BSP_SCHEDULE_DELAY !== undefined && env.OTEL_BSP_SCHEDULE_DELAY.trim() !== '') {
    exportDelayMs = Number(env.OTEL_BSP_SCHEDULE_DELAY);
    if (!Number.isInteger(exportDelayMs) || exportDelayMs < 0 || exportDelayMs > EXPORT_DELAY_MS_MAX) {
      throw new ConfigError(`Invalid configuration: OTEL_BSP_SCHEDULE_DELAY must be whole milliseconds between 0 and ${EXPORT_DELAY_MS_MAX}`);
    }
  }

  return {
    tracesUrl,
    protocol,
    headers: {
      ...keyValueList('OTEL_EXPORTER_OTLP_HEADERS', env.OTEL_EXPORTER_OTLP_HEADERS),
      ...keyValueList('OTEL_EXPORTER_OTLP_TRACES_HEADERS', env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
    },
    serviceName: env.OTEL_SERVICE_NAME?.trim() || undefined,
    resourceAttributes: keyValueList('OTEL_RESOURCE_ATTRIBUTES', env.OTEL_RESOURCE_ATTRIBUTES),
    sampler: sampler as TraceSamplerName,
    samplerRatio,
    exportDelayMs,
  };
}
