/**
 * OpenTelemetry traces for the gateway and every subgraph, switched on by the standard OTEL_*
 * variables only (settings.ts) and free while off (tracing.ts). Also keeps Apollo's own outbound
 * telemetry off unless asked for (apollo.ts).
 */
export {
  currentTraceParent,
  startTracing,
  traceDelivery,
  traceEvent,
  traceOutgoing,
  traceRequests,
  traceStatement,
  traceTransaction,
  tracerFor,
  tracingOn,
  type TracedDelivery,
  type TracedEvent,
  type Tracing,
} from './tracing';
export { tracingSettings, TRACE_SAMPLERS, type OtlpProtocol, type TracingSettings } from './settings';
export { statementSummary, type StatementSummary } from './sql';
export { keepApolloTelemetryOff, APOLLO_TELEMETRY_VARIABLE } from './apollo';
