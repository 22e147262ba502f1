import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { makePrivateDirectory } from '@paygraph/db';
import path from 'node:path';

/**
 * The platform secret from which service credentials derive: SERVICE_SECRET when set (required
 * when services run on several machines), else one generated once and kept in DATA_DIR with
 * owner-only permissions, so every process sharing the data folder agrees on it.
 */
export function resolveServiceSecret(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  if (dataDir.startsWith('memory://')) return (globalThis.__paygraphMemorySecret ??= randomBytes(32).toString('base64url'));
  const file = path.join(dataDir, 'service-secret');
  // The folder (and the secret in it) is owner-only; a looser one is tightened with a log line.
  makePrivateDirectory(dataDir);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const secret = randomBytes(32).toString('base64url');
    try {
      writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
      return secret;
    } catch {
      return readFileSync(file, 'utf8').trim(); // another process wrote it first
    }
  }
}

declare global {
  // eslint-disable-next-line no-var
  var __paygraphMemorySecret: string | undefined;
}
