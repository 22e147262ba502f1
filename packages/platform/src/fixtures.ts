/**
 * vitest fixtures for a subgraph's integration tests, chained with `test.extend`:
 * `platform` (the subgraph under test and the services it talks to, started once per file with
 * the test's settings; every other service at a fake given for it, or at a closed port) ->
 * `urls` (each started subgraph's URL, by name) -> `identity` (where users register and log in,
 * for @paygraph/testing's registerAndLogin). File-scoped: `test.beforeAll` receives them, and the
 * platform stops when the file is done.
 *
 *   const test = subgraphTest({ subgraphs: ['users', 'auth'], env: { RATE_LIMITS: 'on' } });
 *   test.beforeAll(async ({ urls, identity }) => { ... });
 */
import type { RequestListener } from 'node:http';
import { test } from 'vitest';
import type { ServiceDefinition } from '@paygraph/server';
import type { Platform } from './platform';
import { startTestPlatform } from './testing';

export interface SubgraphTestOptions {
  /** The subgraphs to start: the one under test and, where the test is about their interaction, the real services it calls. */
  subgraphs: readonly string[];
  /** Settings for this file (over the test defaults). */
  env?: Record<string, string>;
  /** Stand-ins for services the subgraph calls that the test is not about, by name. */
  fakes?: Readonly<Record<string, RequestListener>>;
  /** Service definitions to use instead of the defaults (a service created with test controls). */
  services?: Partial<Record<string, ServiceDefinition>>;
}

export interface IdentityUrls {
  /** Where registerUser is served (the users subgraph). */
  register: string;
  /** Where login is served (the auth subgraph). */
  login: string;
}

export function subgraphTest(options: SubgraphTestOptions) {
  return test
    .extend('platform', { scope: 'file' }, async ({}, { onCleanup }): Promise<Platform> => {
      const platform = await startTestPlatform({
        gateway: false,
        only: options.subgraphs,
        ...(options.env ? { env: options.env } : {}),
        ...(options.fakes ? { fakes: options.fakes } : {}),
        ...(options.services ? { services: options.services } : {}),
      });
      onCleanup(() => platform.stop());
      return platform;
    })
    .extend('urls', { scope: 'file' }, ({ platform }) => Object.fromEntries([...platform.subgraphs].map(([name, subgraph]) => [name, subgraph.url])) as Readonly<Record<string, string>>)
    .extend('identity', { scope: 'file' }, ({ urls }): IdentityUrls => {
      const register = urls.users;
      const login = urls.auth;
      if (!register || !login) throw new Error('the identity fixture needs the users and auth subgraphs started');
      return { register, login };
    });
}
