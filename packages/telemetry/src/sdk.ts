/**
 * The OpenTelemetry SDK, imported only once tracing is switched on (tracing.ts loads this module
 * with a dynamic import): a process without an OTLP endpoint never loads the SDK or an exporter.
 *
 * One TracerProvider per service, each with its own `service.name`: `npm start` runs the gateway
 * and every subgraph in one process, and a trace viewer should still show gateway -> payments ->
 * risk -> ledger as separate services. They share the sampler settings, the process's
 * `service.instance.id` and one context manager (AsyncLocalStorage) and propagator (W3C).
 */
import { randomUUID } from 'node:crypto';
import type { TracerProvider as ApiTracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME, ATTR_SERVICE_NAMESPACE } from '@opentelemetry/semantic-conventions';
import type { TracingSettings } from './settings';

export interface Sdk {
  contextManager: AsyncLocalStorageContextManager;
  propagator: W3CTraceContextPropagator;
  /** A provider whose spans carry `serviceName`. */
  provider(serviceName: string): ApiTracerProvider & { forceFlush(): Promise<void>; shutdown(): Promise<void> };
}

/** The namespace every service of the platform reports under (OTEL_RESOURCE_ATTRIBUTES may override it). */
const SERVICE_NAMESPACE = 'paygraph';

function samplerOf(settings: TracingSettings): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
  }
}

async function exporterOf(settings: TracingSettings): Promise<() => SpanExporter> {
  const config = { url: settings.tracesUrl, headers: settings.headers };
  // Only the exporter of the chosen protocol is loaded (protobuf pulls in protobufjs).
  if (settings.protocol === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return () => new OTLPTraceExporter(config);
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return () => new OTLPTraceExporter(config);
}

export async function createSdk(settings: TracingSettings): Promise<Sdk> {
  const newExporter = await exporterOf(settings);
  const sampler = samplerOf(settings);
  const instanceId = randomUUID();
  return {
    contextManager: new AsyncLocalStorageContextManager().enable(),
    propagator: new W3CTraceContextPropagator(),
    provider(serviceName) {
      const resource = defaultResource().merge(
        resourceFromAttributes({
          [ATTR_SERVICE_NAMESPACE]: SERVICE_NAMESPACE,
          ...settings.resourceAttributes,
          [ATTR_SERVICE_NAME]: serviceName,
          [ATTR_SERVICE_INSTANCE_ID]: instanceId,
        }),
      );
      return new TracerProvider({
        resource,
        sampler,
        spanProcessors: [new BatchSpanProcessor({ exporter: newExporter(), scheduledDelayMillis: settings.exportDelayMs })],
      });
    },
  };
}
