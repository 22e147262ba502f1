/**
 * The GraphQL IDE: GraphiQL 5 bundled with esbuild (ide/build.mjs) into gateway/ide-dist on first
 * use, served from the gateway itself so it works with no internet. Subscriptions in the IDE go
 * over graphql-ws on the same /graphql path.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { buildIde } from '../ide/build.mjs';

export const IDE_BASE_PATH = '/graphql/ide';
const ideRoot = fileURLToPath(new URL('..', import.meta.url));
export const IDE_DIST = path.join(ideRoot, 'ide-dist');

let building: Promise<string> | undefined;

/** Builds the bundle once per checkout (about 1 s); concurrent starts never see a half-built one. */
export function ensureIdeBundle(): Promise<string> {
  if (existsSync(path.join(IDE_DIST, 'index.html'))) return Promise.resolve(IDE_DIST);
  building ??= (async () => {
    const scratch = await mkdtemp(path.join(ideRoot, '.ide-build-'));
    try {
      await buildIde(path.join(scratch, 'out'), { basePath: IDE_BASE_PATH, endpoint: '/graphql', title: 'Paygraph GraphQL IDE' });
      await rename(path.join(scratch, 'out'), IDE_DIST).catch((error: NodeJS.ErrnoException) => {
        if (!existsSync(path.join(IDE_DIST, 'index.html'))) throw error; // else another process won the race
      });
      return IDE_DIST;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  })();
  return building;
}

/** True for a browser navigating to /graphql (it asks for HTML), not for a GraphQL client. */
export function wantsIde(request: express.Request): boolean {
  return request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');
}

export function mountIde(app: express.Express, dist: string): void {
  app.use(
    IDE_BASE_PATH,
    express.static(dist, {
      index: false,
      fallthrough: false,
      maxAge: '1h',
      setHeaders: (response, file) => {
        if (file.endsWith('.js')) response.setHeader('content-type', 'text/javascript; charset=utf-8');
      },
    }),
  );
  app.get('/graphql', (request, response, next) => {
    if (!wantsIde(request)) return next();
    response.setHeader('cache-control', 'no-cache');
    response.sendFile(path.join(dist, 'index.html'));
  });
}
