/**
 * Apollo's own outbound telemetry, off unless the user turns it on.
 *
 * @apollo/gateway (2.14) builds, in its constructor, an OpenTelemetry meter provider that reports
 * anonymous usage metrics to Apollo (usage-reporting.api.apollographql.com) once an hour; building
 * it runs cloud resource detectors, among them GCP's, which probes the metadata server
 * (169.254.169.254 / metadata.google.internal: the `MetadataLookupWarning ... 403` in the logs).
 * Both are skipped when APOLLO_TELEMETRY_DISABLED is `true` or `1`, read from process.env at
 * construction. So a gateway sets it to `true` before constructing Apollo's, unless the operator set
 * it: `APOLLO_TELEMETRY_DISABLED=false` turns Apollo's telemetry (and the probe) back on.
 * Apollo Server's usage and schema reporting are separate and need an APOLLO_KEY, which we never set.
 */
export const APOLLO_TELEMETRY_VARIABLE = 'APOLLO_TELEMETRY_DISABLED';

export function keepApolloTelemetryOff(env: NodeJS.ProcessEnv = process.env): void {
  const value = env[APOLLO_TELEMETRY_VARIABLE];
  if (value === undefined || value.trim() === '') env[APOLLO_TELEMETRY_VARIABLE] = 'true';
}
