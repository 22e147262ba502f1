/**
 * @paygraph/platform: the launcher, the one package above the subgraphs and the gateway. It starts
 * every subgraph of the service list and the gateway in one process (`npm start`) and is what the
 * tests that need the whole platform start.
 */
export { serviceDefinitions, startPlatform, type Platform, type PlatformOptions, type RunningSubgraph } from './platform';
export { startTestPlatform, type TestPlatformOptions } from './testing';
