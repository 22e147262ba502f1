/**
 * The gateway hop (issue 14): what a gateway adds in front of one subgraph, side by side in one
 * run. `{ me { id name role } }` (answered by the users subgraph alone) is sent at 16 connections:
 * - `direct`: to the users subgraph itself, with the gateway credential it requires;
 * - `ours`: through our gateway as its own process (`npm start -w gateway`: gateway/src/index.ts,
 *   static supergraph, every edge check on; the request budget is raised so the bench is not
 *   rate limited, but it is still spent on every request);
 * - `hive`: through Hive Gateway as its own process, default settings plus the header forwarding
 *   of deploy/hive-gateway/gateway.config.ts.
 * Both gateways stand in front of the same users (and auth, for its JWKS) subgraph processes.
 * Two scenarios: `many` (every connection cycles through BENCH_USERS users' tokens) and `shared`
 * (every request carries one token: identical in-flight subgraph requests can be merged).
 *
 *   npm run bench:gateway     (PostgreSQL at DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres;
 *                              a fresh database per run, dropped at the end)
 *
 * Reports per target and scenario the median over BENCH_RUNS rounds of: requests/s, latency p50
 * and p99 (ms), and CPU milliseconds per request of the gateway process and of the users subgraph
 * process (utime + stime from /proc/<pid>/stat before and after, divided by the requests
 * answered). Every response is checked (HTTP 200, `me` of the token's user, no error); the run
 * fails on any mismatch. Load average is printed before and after. A second table adds the CPU per
 * request of this process (the load generator) and of PostgreSQL, the machine's busy and stolen
 * cores, and the two bounds of the rate: the sum of every process's CPU per request over the cores,
 * and the busiest single event loop; from those, the CPU per request that 70% of direct would leave
 * our gateway (at the cores the machine kept busy behind it, and on all of them).
 *
 * Settings: BENCH_SECONDS=10 per point, BENCH_RUNS=3 (at least 2), BENCH_CONNECTIONS=16,
 * BENCH_USERS=16, BENCH_WARMUP_SECONDS=5 per gateway before measuring, BENCH_TARGETS=direct,ours,hive,
 * BENCH_SCENARIOS=many,shared, BENCH_BEFORE_DIR=<another checkout> adds a `before` target (that
 * checkout's gateway, same settings: before/after of a change in one run), BENCH_OURS_NODE_OPTIONS is given to our gateway as NODE_OPTIONS
 * (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": the profile is written when it stops).
 * The load generator (autocannon, in this process) shares the two cores with every process
 * measured: compare the targets within one run, as ratios.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import postgres from 'postgres';
import { repositoryRoot } from '@paygraph/config';
import { GATEWAY_CREDENTIAL_HEADER, gatewayCredential } from '@paygraph/identity';
import { freePort, registerAndLogin } from '@paygraph/testing';
import { cpuSnapshot, machineCpu, processCpuMs } from './cpu';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const USERS = Number(process.env.BENCH_USERS ?? 16);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
/** Another checkout of the repository (its node_modules linked to this one's) whose gateway runs beside ours as `before`. */
const BEFORE_DIR = process.env.BENCH_BEFORE_DIR ? path.resolve(process.env.BENCH_BEFORE_DIR) : null;
const TARGETS = (process.env.BENCH_TARGETS ?? `direct,ours,${BEFORE_DIR ? 'before,' : ''}hive`).split(',') as TargetName[];
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? 'many,shared').split(',') as Scenario[];
const SERVER_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const STARTUP_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 10_000;
const QUERY = '{ me { id name role } }';
const CORES = availableParallelism();

type TargetName = 'direct' | 'ours' | 'before' | 'hive';
type Scenario = 'many' | 'shared';

for (const value of [SECONDS, RUNS, CONNECTIONS, USERS]) {
  if (!Number.isInteger(value) || value <= 0) throw new Error('BENCH_SECONDS, BENCH_RUNS, BENCH_CONNECTIONS and BENCH_USERS must be positive integers');
}
if (RUNS < 2) throw new Error('BENCH_RUNS must be at least 2: figures are medians of several runs');
for (const target of TARGETS) if (!['direct', 'ours', 'before', 'hive'].includes(target)) throw new Error(`unknown target ${target}`);
if (TARGETS.includes('before') && !BEFORE_DIR) throw new Error('the before target needs BENCH_BEFORE_DIR');
for (const scenario of SCENARIOS) if (!['many', 'shared'].includes(scenario)) throw new Error(`unknown scenario ${scenario}`);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

function uptimeLine(): string {
  return `load average ${loadavg().map((value) => value.toFixed(2)).join(', ')}`;
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Started {
  name: string;
  pid: number;
  output: () => string;
  stop(): Promise<void>;
}

const running: Started[] = [];

/** Starts `node <args>` in the repository root and waits for a line matching `ready`. */
async function startProcess(name: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, cwd = repositoryRoot): Promise<Started> {
  const child: ChildProcess = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started: Started = {
    name,
    pid: child.pid!,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
  running.push(started);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not become ready in time:\n${output}`)), STARTUP_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      // Keep the start of the output (start-up problems) and drain the rest.
      if (output.length < 64_000) output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited:\n${output}`));
    });
  });
  return started;
}

async function stopAll(): Promise<void> {
  for (const started of running.splice(0).reverse()) await started.stop().catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// Load

interface Point {
  perSecond: number;
  p50: number;
  p99: number;
  requests: number;
  gatewayCpuMsPerRequest: number | null;
  subgraphCpuMsPerRequest: number;
  /** This process (autocannon, the load generator) and every PostgreSQL server process, per request. */
  loadCpuMsPerRequest: number;
  postgresCpuMsPerRequest: number;
  /** Cores the whole machine was busy during the point (of 2 here), and cores stolen by the host. */
  busyCores: number;
  stealCores: number;
}

interface Target {
  name: TargetName;
  url: string;
  /** The gateway process (null for the subgraph itself). */
  pid: number | null;
  headers: (token: string) => Record<string, string>;
}

async function load(target: Target, users: { id: string; accessToken: string }[], seconds: number, subgraphPid: number): Promise<Point> {
  let mismatches = 0;
  let firstMismatch = '';
  const perUser = users.map((user) => ({ headers: { 'content-type': 'application/json', ...target.headers(user.accessToken) }, expected: `{"data":{"me":{"id":"${user.id}",` }));
  // One rotation shared by every connection: consecutive requests (hence the requests in flight
  // together) carry different users' tokens. Per-connection rotations would move in step and send
  // the same token concurrently, which a gateway merging identical requests would profit from.
  let next = 0;
  const request: autocannon.Request = {
    method: 'POST',
    path: new URL(target.url).pathname,
    body: JSON.stringify({ query: QUERY }),
    setupRequest: (built, context) => {
      const user = perUser[next % perUser.length]!;
      next += 1;
      (context as { expected?: string }).expected = user.expected;
      return { ...built, headers: user.headers };
    },
    onResponse: (status, body, context) => {
      const expected = (context as { expected?: string }).expected;
      if (status === 200 && expected !== undefined && body.startsWith(expected) && !body.includes('"errors"')) return;
      mismatches += 1;
      if (!firstMismatch) firstMismatch = `${status} ${body.slice(0, 300)}`;
    },
  };
  const gatewayBefore = target.pid === null ? 0 : processCpuMs(target.pid);
  const subgraphBefore = processCpuMs(subgraphPid);
  const loadBefore = process.cpuUsage();
  const postgresBefore = cpuSnapshot({}).postgresql!;
  const machineBefore = machineCpu();
  const startedAt = performance.now();
  const result = await autocannon({ url: new URL(target.url).origin, connections: CONNECTIONS, duration: seconds, requests: [request] });
  const elapsedMs = performance.now() - startedAt;
  const machineAfter = machineCpu();
  const postgresUsedMs = cpuSnapshot({}).postgresql! - postgresBefore;
  const loadUsed = process.cpuUsage(loadBefore);
  const gatewayUsedMs = target.pid === null ? 0 : processCpuMs(target.pid) - gatewayBefore;
  const subgraphUsedMs = processCpuMs(subgraphPid) - subgraphBefore;
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0 || mismatches > 0) {
    throw new Error(`${target.name}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx, ${mismatches} wrong answers (first: ${firstMismatch})`);
  }
  const answered = result.requests.total;
  return {
    perSecond: answered / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: answered,
    gatewayCpuMsPerRequest: target.pid === null ? null : gatewayUsedMs / answered,
    subgraphCpuMsPerRequest: subgraphUsedMs / answered,
    loadCpuMsPerRequest: (loadUsed.user + loadUsed.system) / 1000 / answered,
    postgresCpuMsPerRequest: postgresUsedMs / answered,
    busyCores: (machineAfter.busyMs - machineBefore.busyMs) / elapsedMs,
    stealCores: (machineAfter.stealMs - machineBefore.stealMs) / elapsedMs,
  };
}

/** Medians of a target's CPU per request, by process, and of the machine's busy cores. */
function costOf(runs: Point[]) {
  const gateway = runs[0]!.gatewayCpuMsPerRequest === null ? null : median(runs.map((point) => point.gatewayCpuMsPerRequest!));
  const subgraph = median(runs.map((point) => point.subgraphCpuMsPerRequest));
  const load = median(runs.map((point) => point.loadCpuMsPerRequest));
  const postgres = median(runs.map((point) => point.postgresCpuMsPerRequest));
  return {
    gateway,
    subgraph,
    load,
    postgres,
    sum: (gateway ?? 0) + subgraph + load + postgres,
    busy: median(runs.map((point) => point.busyCores)),
    steal: median(runs.map((point) => point.stealCores)),
  };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  console.log(`bench:gateway: ${QUERY}, ${CONNECTIONS} connections, ${SECONDS} s per point, ${RUNS} runs, ${USERS} users; node ${process.version}`);
  console.log(`before: ${uptimeLine()}`);
  const server = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  const database = `paygraph_bench_gateway_${randomBytes(4).toString('hex')}`;
  await server.unsafe(`create database ${database}`);
  const databaseUrl = new URL(SERVER_URL);
  databaseUrl.pathname = `/${database}`;
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const serviceSecret = randomBytes(32).toString('base64url');
    const [usersPort, authPort, oursPort, hivePort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const usersUrl = `http://127.0.0.1:${usersPort}/graphql`;
    const authUrl = `http://127.0.0.1:${authPort}/graphql`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl.toString(),
      SERVICE_SECRET: serviceSecret,
      HOST: '127.0.0.1',
      // Every process logs at its default level (info: the access log writes a line per request) unless LOG_LEVEL says otherwise.
      ...(process.env.LOG_LEVEL ? { LOG_LEVEL: process.env.LOG_LEVEL } : {}),
      USERS_PORT: String(usersPort),
      AUTH_PORT: String(authPort),
      USERS_URL: usersUrl,
      AUTH_URL: authUrl,
      // Rate limits stay on (each request spends its budget); the budgets are raised so that the
      // bench, 16 users at thousands of requests per second from one address, is never refused.
      RATE_LIMITS: 'on',
      RATE_LIMIT_REQUESTS_PER_MINUTE: '1000000',
      RATE_LIMIT_LOGINS_PER_MINUTE: '10000',
      RATE_LIMIT_REGISTRATIONS_PER_HOUR: '10000',
    };
    delete env.NODE_OPTIONS;
    delete env.FORK; // Hive Gateway reads it (worker count)
    const tsx = ['--import', 'tsx'];
    await startProcess('auth', [...tsx, 'subgraphs/auth/src/index.ts'], env, /auth subgraph ready at/);
    const users = await startProcess('users', [...tsx, 'subgraphs/users/src/index.ts'], env, /users subgraph ready at/);

    // Users are registered at the subgraphs directly, as the gateway would call them.
    process.env.SERVICE_SECRET = serviceSecret;
    const accounts: { id: string; accessToken: string }[] = [];
    for (let index = 0; index < USERS; index += 1) accounts.push(await registerAndLogin({ register: usersUrl, login: authUrl }, 'BUYER', { name: `Bench User ${index}` }));

    const credential = gatewayCredential(serviceSecret);
    const targets: Target[] = [{ name: 'direct', url: usersUrl, pid: null, headers: (token) => ({ authorization: `Bearer ${token}`, [GATEWAY_CREDENTIAL_HEADER]: credential }) }];
    if (TARGETS.includes('ours')) {
      const ours = await startProcess(
        'ours',
        [...tsx, 'gateway/src/index.ts'],
        { ...env, PORT: String(oursPort), SUPERGRAPH_SOURCE: 'static', ...(process.env.BENCH_OURS_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_OURS_NODE_OPTIONS } : {}) },
        /Gateway ready at/,
      );
      targets.push({ name: 'ours', url: `http://127.0.0.1:${oursPort}/graphql`, pid: ours.pid, headers: (token) => ({ authorization: `Bearer ${token}` }) });
    }
    if (TARGETS.includes('before')) {
      const beforePort = await freePort();
      const before = await startProcess('before', [...tsx, 'gateway/src/index.ts'], { ...env, PORT: String(beforePort), SUPERGRAPH_SOURCE: 'static' }, /Gateway ready at/, BEFORE_DIR!);
      targets.push({ name: 'before', url: `http://127.0.0.1:${beforePort}/graphql`, pid: before.pid, headers: (token) => ({ authorization: `Bearer ${token}` }) });
    }
    if (TARGETS.includes('hive')) {
      const hive = await startProcess(
        'hive',
        [path.join(repositoryRoot, 'node_modules/@graphql-hive/gateway/dist/bin.js'), 'supergraph', 'schema/supergraph.graphql', '-c', 'deploy/hive-gateway/gateway.config.ts', '--port', String(hivePort), '--host', '127.0.0.1'],
        // Hive Gateway reads LOG_LEVEL too; its ready line is an info line (it logs nothing per request at info).
        { ...env, LOG_LEVEL: 'info' },
        /Listening on/,
      );
      targets.push({ name: 'hive', url: `http://127.0.0.1:${hivePort}/graphql`, pid: hive.pid, headers: (token) => ({ authorization: `Bearer ${token}` }) });
    }
    const measured = targets.filter((target) => TARGETS.includes(target.name));

    // A cold gateway runs several times slower than a warm one (PERFORMANCE.md): warm each up.
    for (const target of measured) await load(target, accounts, WARMUP_SECONDS, users.pid);
    console.log(`warmed up (${WARMUP_SECONDS} s each): ${uptimeLine()}`);

    const points = new Map<string, Point[]>();
    for (let run = 1; run <= RUNS; run += 1) {
      for (const scenario of SCENARIOS) {
        const tokens = scenario === 'many' ? accounts : [accounts[0]!];
        for (const target of measured) {
          const point = await load(target, tokens, SECONDS, users.pid);
          const key = `${scenario}/${target.name}`;
          points.set(key, [...(points.get(key) ?? []), point]);
          console.log(
            `run ${run} ${scenario.padEnd(6)} ${target.name.padEnd(6)} ${point.perSecond.toFixed(0).padStart(6)} req/s  p50 ${point.p50} ms  p99 ${point.p99} ms  ` +
              `gateway CPU ${point.gatewayCpuMsPerRequest?.toFixed(3) ?? '-'} ms/req  users CPU ${point.subgraphCpuMsPerRequest.toFixed(3)} ms/req  ` +
              `load generator ${point.loadCpuMsPerRequest.toFixed(3)}  PostgreSQL ${point.postgresCpuMsPerRequest.toFixed(3)}  ` +
              `machine busy ${point.busyCores.toFixed(2)} cores, steal ${point.stealCores.toFixed(2)}  (${uptimeLine()})`,
          );
        }
      }
    }

    console.log(`\nafter: ${uptimeLine()}`);
    console.log(`\nMedians of ${RUNS} runs of ${SECONDS} s, ${CONNECTIONS} connections:\n`);
    console.log('| scenario | target | req/s (runs) | p50 / p99 ms | gateway CPU ms/req | users subgraph CPU ms/req | of direct |');
    console.log('|---|---|---|---|---|---|---|');
    for (const scenario of SCENARIOS) {
      const direct = points.get(`${scenario}/direct`);
      const directRate = direct ? median(direct.map((point) => point.perSecond)) : null;
      for (const target of measured) {
        const runs = points.get(`${scenario}/${target.name}`)!;
        const rate = median(runs.map((point) => point.perSecond));
        const gatewayCpu = target.pid === null ? '-' : median(runs.map((point) => point.gatewayCpuMsPerRequest!)).toFixed(3);
        console.log(
          `| ${scenario} | ${target.name} | ${rate.toFixed(0)} (${runs.map((point) => point.perSecond.toFixed(0)).join(', ')}) | ` +
            `${median(runs.map((point) => point.p50))} / ${median(runs.map((point) => point.p99))} | ${gatewayCpu} | ` +
            `${median(runs.map((point) => point.subgraphCpuMsPerRequest)).toFixed(3)} | ${directRate ? `${((rate / directRate) * 100).toFixed(0)}%` : '-'} |`,
        );
      }
    }
    console.log(`\nWhere each request's CPU went (medians, ms per request) and what bounds the rate on ${CORES} cores:\n`);
    console.log('| scenario | target | gateway | users subgraph | load generator | PostgreSQL | sum | machine busy (steal), cores | at most, by the sum on the cores | at most, by the busiest event loop |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const scenario of SCENARIOS) {
      for (const target of measured) {
        const cost = costOf(points.get(`${scenario}/${target.name}`)!);
        console.log(
          `| ${scenario} | ${target.name} | ${cost.gateway === null ? '-' : cost.gateway.toFixed(3)} | ${cost.subgraph.toFixed(3)} | ${cost.load.toFixed(3)} | ${cost.postgres.toFixed(3)} | ` +
            `${cost.sum.toFixed(3)} | ${cost.busy.toFixed(2)} (${cost.steal.toFixed(2)}) | ${((CORES * 1000) / cost.sum).toFixed(0)} | ${(1000 / Math.max(cost.gateway ?? 0, cost.subgraph)).toFixed(0)} |`,
        );
      }
      const direct = points.get(`${scenario}/direct`);
      const ours = points.get(`${scenario}/ours`);
      if (direct && ours) {
        // What 70% of direct leaves the gateway: the machine's time per request at that rate (all
        // its cores, or as many as were busy behind our gateway: the machine never runs at 100%),
        // less what the subgraph, the load generator and PostgreSQL spent per request behind it.
        const target = 0.7 * median(direct.map((point) => point.perSecond));
        const rest = costOf(ours);
        const others = rest.subgraph + rest.load + rest.postgres;
        const allowedAt = (cores: number) => ((cores * 1000) / target - others).toFixed(3);
        console.log(
          `${scenario}: 70% of direct is ${target.toFixed(0)} req/s; that leaves our gateway ${allowedAt(rest.busy)} ms of CPU per request at the ${rest.busy.toFixed(2)} ` +
            `cores busy behind it, ${allowedAt(CORES)} ms on all ${CORES} (it spent ${rest.gateway!.toFixed(3)})`,
        );
      }
    }

    const rateOf = (key: string) => (points.has(key) ? median(points.get(key)!.map((point) => point.perSecond)) : null);
    for (const scenario of SCENARIOS) {
      const ours = rateOf(`${scenario}/ours`);
      const hive = rateOf(`${scenario}/hive`);
      if (ours !== null && hive !== null) console.log(`${scenario}: ours / hive = ${(ours / hive).toFixed(2)}x`);
      const before = rateOf(`${scenario}/before`);
      if (ours !== null && before !== null) console.log(`${scenario}: ours / before = ${(ours / before).toFixed(2)}x`);
    }
  } finally {
    await stopAll();
    await server.unsafe(`drop database if exists ${database} with (force)`).catch(() => {});
    await server.end();
  }
}

await main();
