// The access log writes its line through a child without redaction (its fields hold no credential):
// the line keeps the service's bindings, follows the service logger's level even when that level
// changes later, and the service logger itself still redacts credentials.
import { request as httpRequest } from 'node:http';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@paygraph/logging';
import { accessLog } from '../src/access-log';
import { listen } from '../src/listen';

function capturingLogger(level: string) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) } }).child({ service: 'probe' });
  return { logger, lines };
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Lines are written when the response closes: wait for the count expected. */
async function settle(lines: unknown[], count: number): Promise<void> {
  for (let waited = 0; lines.length < count && waited < 2_000; waited += 10) await new Promise((done) => setTimeout(done, 10));
}

describe('accessLog', () => {
  it('writes one line per request with the service bindings, at the service logger\'s level as it is now', async () => {
    const { logger, lines } = capturingLogger('info');
    const app = express();
    app.use(accessLog(logger));
    app.get('/health', (_request, response) => void response.json({ ok: true }));
    app.get('/thing', (_request, response) => void response.json({ ok: true }));
    const server = await listen(app, 0, '127.0.0.1');
    try {
      expect(await get(server.port, '/thing', { 'x-request-id': 'req-1' })).toBe(200);
      expect(await get(server.port, '/health')).toBe(200); // a probe: debug, below info
      await settle(lines, 1);
      await new Promise((done) => setTimeout(done, 50));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 30, service: 'probe', msg: 'request', method: 'GET', path: '/thing', status: 200, requestId: 'req-1' });
      expect(typeof lines[0]!.pid).toBe('number');

      logger.level = 'debug';
      expect(await get(server.port, '/health')).toBe(200);
      await settle(lines, 2);
      expect(lines[1]).toMatchObject({ level: 20, service: 'probe', path: '/health' });

      logger.level = 'warn';
      expect(await get(server.port, '/thing')).toBe(200);
      await new Promise((done) => setTimeout(done, 50));
      expect(lines).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('leaves the service logger redacting credentials', () => {
    const { logger, lines } = capturingLogger('info');
    accessLog(logger);
    logger.info({ password: 'hunter2', variables: { input: { password: 'hunter3' } }, authorization: 'Bearer abc' }, 'credentials');
    expect(JSON.stringify(lines)).not.toMatch(/hunter|Bearer abc/);
    expect(lines[0]).toMatchObject({ password: '[redacted]', authorization: '[redacted]' });
  });
});
