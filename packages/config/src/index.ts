/**
 * Configuration: the environment parsed and validated once at start-up, with a one-line message
 * naming the variable for every bad value, and the service list read from schema/supergraph.yaml.
 */
export { ConfigError, parseEnv, envSchemas, type PlatformConfig, loadPlatformConfig } from './env';
export { loadServiceList, SERVICE_INSTANCES_MAX, type ServiceEntry, type ServiceList, repositoryRoot } from './service-list';
export { limitSettingsShape, loadLimitSettings, type LimitSettings } from './limits';
