/**
 * What the access log costs on the gateway hop: `query Me { me { id name role } }` through the
 * gateway of the platform as `npm start` runs it (embedded database, every service in this
 * process; each request writes two access-log lines, the gateway's and the users subgraph's),
 * with LOG_LEVEL=info (lines serialised and written, to /dev/null) against LOG_LEVEL=warn (the
 * middleware runs, nothing is written). Platforms alternate, ROUNDS of each; autocannon runs in its
 * own process. Prints requests/s per run, the medians and their ratio.
 *
 *   npx tsx bench/access-log.ts            # BENCH_SECONDS=10 BENCH_CONNECTIONS=16 BENCH_ROUNDS=3
 *   BENCH_MODE=micro npx tsx bench/access-log.ts   # CPU per request of the middleware alone
 */
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { loadServiceList } from '@paygraph/config';
import { createLogger } from '@paygraph/logging';
import { startPlatform } from '@paygraph/platform';
import { registerAndLogin } from '@paygraph/testing';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP_SECONDS = 3;
const run = promisify(execFile);
const autocannon = path.resolve(import.meta.dirname, '../node_modules/.bin/autocannon');

async function load(url: string, token: string, seconds: number): Promise<number> {
  const body = JSON.stringify({ query: 'query Me { me { id name role } }' });
  const { stdout } = await run(autocannon, ['--json', '-c', String(CONNECTIONS), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json', '-H', `authorization=Bearer ${token}`, '-b', body, url], { maxBuffer: 64 * 1024 * 1024 });
  const result = JSON.parse(stdout) as { requests: { average: number }; non2xx: number; errors: number };
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`failed requests: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

async function measure(level: 'info' | 'warn'): Promise<number> {
  const ports = Object.fromEntries(loadServiceList({}).map((service) => [`${service.name.toUpperCase()}_PORT`, '0']));
  const env = { ...process.env, DATA_DIR: 'memory://', PORT: '0', HOST: '127.0.0.1', RATE_LIMITS: 'off', LOG_LEVEL: level, ...ports };
  const logger = createLogger({ level, name: 'bench', destination: pino.destination({ dest: '/dev/null', sync: true }) });
  const platform = await startPlatform({ env, logger });
  try {
    const url = platform.gatewayUrl!;
    const user = await registerAndLogin({ register: url, login: url });
    await load(url, user.accessToken, WARMUP_SECONDS);
    return await load(url, user.accessToken, SECONDS);
  } finally {
    await platform.stop();
  }
}

/**
 * CPU per request of the middleware alone (process.cpuUsage, so a loaded machine slows it without
 * skewing it much): fake request/response objects through accessLog, the line serialised and
 * written to /dev/null (info) or skipped (warn), against a request with no access log at all.
 */
async function microSecondsPerRequest(level: 'info' | 'warn' | 'none', requests: number): Promise<number> {
  const { accessLog } = await import('@paygraph/server');
  const { EventEmitter } = await import('node:events');
  const logger = createLogger({ level: level === 'none' ? 'info' : level, name: 'bench', destination: pino.destination({ dest: '/dev/null', sync: true }) }).child({ service: 'gateway' });
  const middleware = accessLog(logger);
  const headers = { 'x-request-id': 'bench-request', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', authorization: 'Bearer x' };
  const started = process.cpuUsage();
  for (let index = 0; index < requests; index += 1) {
    const request = { method: 'POST', path: '/graphql', headers, body: { operationName: 'Me', query: 'query Me { me { id name role } }' }, query: {} };
    const response = Object.assign(new EventEmitter(), { statusCode: 200, writableFinished: true });
    if (level !== 'none') middleware(request as never, response as never, () => {});
    response.emit('close');
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / requests;
}

if (process.env.BENCH_MODE === 'micro') {
  const requests = Number(process.env.BENCH_REQUESTS ?? 200_000);
  for (let round = 0; round < ROUNDS; round += 1) {
    const none = await microSecondsPerRequest('none', requests);
    const warn = await microSecondsPerRequest('warn', requests);
    const info = await microSecondsPerRequest('info', requests);
    console.log(`round ${round + 1}: CPU per request: no access log ${none.toFixed(2)} µs, access log at warn (not written) ${warn.toFixed(2)} µs, at info (written) ${info.toFixed(2)} µs (load ${loadavg().map((value) => value.toFixed(2)).join(' ')})`);
  }
  process.exit(0);
}

const figures: Record<'info' | 'warn', number[]> = { info: [], warn: [] };
for (let round = 0; round < ROUNDS; round += 1) {
  for (const level of ['info', 'warn'] as const) {
    const perSecond = await measure(level);
    figures[level].push(perSecond);
    console.log(`round ${round + 1} LOG_LEVEL=${level}: ${perSecond.toFixed(0)} req/s (load ${loadavg().map((value) => value.toFixed(2)).join(' ')})`);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const info = median(figures.info);
const warn = median(figures.warn);
console.log(`median: access log on (info) ${info.toFixed(0)} req/s, off (warn) ${warn.toFixed(0)} req/s: ${((info / warn) * 100).toFixed(1)}% (${CONNECTIONS} connections, ${SECONDS} s, ${ROUNDS} rounds)`);
