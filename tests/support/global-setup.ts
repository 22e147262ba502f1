/**
 * Starts the platform for the end-to-end tests exactly as a user does, `npm start`: free ports,
 * a fresh DATA_DIR (embedded PGlite on disk) or DATABASE_URL when set, a first admin from
 * ADMIN_EMAIL / ADMIN_PASSWORD. Tests receive the URLs through `inject`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { spawnPlatform } from './spawn-platform';

declare module 'vitest' {
  export interface ProvidedContext {
    gatewayUrl: string;
    subgraphUrls: Record<string, string>;
    adminEmail: string;
    adminPassword: string;
  }
}

export default async function setup(project: TestProject) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'paygraph-e2e-'));
  const adminEmail = `admin-${randomBytes(4).toString('hex')}@example.test`;
  const adminPassword = `admin password ${randomBytes(4).toString('hex')}`;
  const platform = await spawnPlatform({ DATA_DIR: dataDir, ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: adminPassword });
  project.provide('gatewayUrl', platform.gatewayUrl);
  project.provide('subgraphUrls', platform.subgraphUrls);
  project.provide('adminEmail', adminEmail);
  project.provide('adminPassword', adminPassword);
  return async () => {
    await platform.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
