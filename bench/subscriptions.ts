/**
 * Subscriptions at scale: N WebSocket subscribers on one gateway (1,000 and 5,000 by default), one
 * `paymentStatusChanged` subscription per connection (as dashboards open them), spread over M
 * merchants, each subscribed without paymentId as its merchant (every payment made to it) with a
 * federated selection; then P payments (createOrder + payOrder, automatic capture: PENDING then
 * SUCCEEDED) fired at a bounded rate from a few funded buyers.
 *
 *   npm run bench:subscriptions     (embedded PGlite in a fresh temp DATA_DIR; DATABASE_URL for PostgreSQL)
 *
 * Reports per size: event delivery latency (received here minus the event's `occurredAt`, the
 * database timestamp of the transaction that wrote it; same machine clock), missing deliveries,
 * the time from payOrder's HTTP response to the SUCCEEDED delivery, and the platform process's
 * memory per subscriber ((after opening - before) / N, RSS from /proc and V8 heap from /metrics).
 *
 * The platform is `npm start` in its own process group (gateway and every subgraph in one
 * process), on free loopback ports, fresh for each size, killed at the end even on failure or
 * Ctrl-C; with BENCH_TOPOLOGY=processes (PostgreSQL only), one process per service and one for the
 * gateway, as docker-compose.yml deploys them, and memory is the gateway process's. Settings: BENCH_SUBSCRIBERS=1000,5000 BENCH_PAYMENTS=150 BENCH_MERCHANTS=20
 * BENCH_RATE=15 (payments/s) BENCH_PAYERS=4 (concurrent buyers) BENCH_BATCH=200 (connections
 * opened at a time), BENCH_POOL_MAX (the platform's DATABASE_POOL_MAX on PostgreSQL; its default
 * otherwise); BENCH_PLATFORM_NODE_OPTIONS is passed to the platform as NODE_OPTIONS
 * (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"); BENCH_FORCE_GC=0 skips the full garbage
 * collections requested from the platform (through its inspector) before the memory samples;
 * BENCH_PROFILE_DIR=<dir> writes there, per size, a CPU profile of the platform while payments
 * are fired (through its inspector) and the platform's output, and with BENCH_HEAP_SNAPSHOTS=1
 * heap snapshots before and after opening the subscriptions (the figures of such a run are
 * disturbed: diagnosis only).
 *
 * The load generator shares the machine with the platform: the CPU each used while firing (and
 * what the rest of the machine used) is printed beside the figures; run it on a quiet machine.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import postgres from 'postgres';
import WebSocket from 'ws';
import { cpuSnapshot } from './cpu';
import { startServiceProcesses } from './platform';
import { loadServiceList } from '@paygraph/config';
import { newId } from '@paygraph/db';
import { freePort, gql, loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';

const sizes = (process.env.BENCH_SUBSCRIBERS ?? '1000,5000').split(',').map(Number);
const PAYMENTS = Number(process.env.BENCH_PAYMENTS ?? 150);
const MERCHANTS = Number(process.env.BENCH_MERCHANTS ?? 20);
const RATE = Number(process.env.BENCH_RATE ?? 15);
const PAYERS = Number(process.env.BENCH_PAYERS ?? 4);
const BATCH = Number(process.env.BENCH_BATCH ?? 200);
const FORCE_GC = process.env.BENCH_FORCE_GC !== '0';
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR ? path.resolve(process.env.BENCH_PROFILE_DIR) : null;
const HEAP_SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS === '1';
const databaseServer = process.env.DATABASE_URL;
/**
 * `single`: `npm start`, gateway and subgraphs in one process (the default). `processes`: one
 * process per service and one for the gateway, as docker-compose.yml deploys them
 * (bench/platform.ts), so the fan-out has the gateway's event loop to itself.
 */
const TOPOLOGY = process.env.BENCH_TOPOLOGY ?? 'single';
if (TOPOLOGY !== 'single' && TOPOLOGY !== 'processes') throw new Error('BENCH_TOPOLOGY is single or processes');
// Embedded PGlite is one database per process: every service process would open the same data folder.
if (TOPOLOGY === 'processes' && !databaseServer) throw new Error('BENCH_TOPOLOGY=processes needs DATABASE_URL (PostgreSQL)');
const DELIVERY_TIMEOUT_MS = 30_000;
const OPEN_TIMEOUT_MS = 60_000;
const WARMUP_SUBSCRIBERS = 100;
const WARMUP_PAYMENTS = 40;
const MEMORY_SAMPLES = 5;
const ADMIN_PASSWORD = 'bench admin password';

for (const value of [...sizes, PAYMENTS, MERCHANTS, RATE, PAYERS, BATCH]) {
  if (!Number.isFinite(value) || value <= 0) throw new Error('BENCH_SUBSCRIBERS, BENCH_PAYMENTS, BENCH_MERCHANTS, BENCH_RATE, BENCH_PAYERS and BENCH_BATCH must be positive numbers');
}

const SUBSCRIPTION = `subscription MerchantPayments {
  paymentStatusChanged {
    sequence status previousStatus occurredAt
    payment { id amount { amount currency } order { id buyer { name } } }
  }
}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
function quantiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN };
}

/** Each client socket here and each server socket in the platform takes a descriptor. */
function checkOpenFiles() {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((entry) => entry.startsWith('Max open files'));
  const soft = Number(line?.split(/\s+/)[3]);
  const needed = Math.max(...sizes) + 1_000;
  if (Number.isFinite(soft) && soft < needed) {
    throw new Error(`ulimit -n is ${soft}: ${Math.max(...sizes)} WebSocket connections need at least ${needed} open files in this process and in the platform. Raise it (ulimit -n ${needed * 2}) and run again.`);
  }
}

// ---------------------------------------------------------------------------------------------
// The platform: `npm start` in its own process group

interface Platform {
  gatewayUrl: string;
  metricsUrl: string;
  /** The process that holds the subscriptions: the platform's (`single`) or the gateway's (`processes`). */
  pid: number;
  /** CPU seconds used so far by every process of the platform (its database server excluded). */
  cpuSeconds(): number;
  adminEmail: string;
  output: () => string;
  stop(): Promise<void>;
}

/** Descendants of a process, from /proc. */
function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const parent = pending.pop()!;
    for (const [pid, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(pid);
        pending.push(pid);
      }
    }
  }
  return found;
}

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) * 1024;
}

/** CPU seconds spent by the whole machine (every core, not idle) so far. */
function machineCpuSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: all but idle and iowait
  return (fields[0]! + fields[1]! + fields[2]! + fields[5]! + fields[6]! + fields[7]!) / 100;
}

/** User + system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const cleanups = new Set<() => void>();
process.once('exit', () => {
  for (const cleanup of cleanups) cleanup();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

async function startPlatform(label: string): Promise<Platform> {
  const adminEmail = `admin-${randomBytes(3).toString('hex')}@example.test`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    ...Object.fromEntries(loadServiceList({}).map((service) => [`${service.name.toUpperCase()}_PORT`, '0'])),
    LOG_LEVEL: 'warn',
    // A load test: the per-client rate limits and login throttles would measure themselves.
    RATE_LIMITS: 'off',
    SERVICE_SECRET: randomBytes(32).toString('hex'),
    ADMIN_EMAIL: adminEmail,
    ADMIN_PASSWORD,
    // A run lasts minutes; tokens must outlive it (sessions close when they expire).
    ACCESS_TOKEN_TTL_SECONDS: '7200',
    // Each merchant's dashboards are one user's many connections (N / MERCHANTS of them, 250 at
    // 5,000): above the per-user default of 100 meant for one person's browser tabs.
    SUBSCRIPTIONS_PER_USER_MAX: String(Math.ceil(Math.max(...sizes) / MERCHANTS) + WARMUP_SUBSCRIBERS),
  };
  delete env.NODE_OPTIONS;
  if (process.env.BENCH_PLATFORM_NODE_OPTIONS) env.NODE_OPTIONS = process.env.BENCH_PLATFORM_NODE_OPTIONS;
  const removers: (() => Promise<void>)[] = [];
  let removeDataDir: (() => void) | null = null;
  if (databaseServer) {
    const admin = postgres(databaseServer, { max: 1, onnotice: () => {} });
    const database = `paygraph_bench_${randomBytes(4).toString('hex')}`;
    await admin.unsafe(`create database ${database}`);
    const url = new URL(databaseServer);
    url.pathname = `/${database}`;
    env.DATABASE_URL = url.toString();
    // The pool users get (DATABASE_POOL_MAX's default) unless BENCH_POOL_MAX sets one; it was 20
    // until 2026-12-01 (bench/README.md, payments: PostgreSQL's CPU grows with the connections in use).
    if (process.env.BENCH_POOL_MAX) env.DATABASE_POOL_MAX = process.env.BENCH_POOL_MAX;
    removers.push(async () => {
      await admin.unsafe(`drop database if exists ${database} with (force)`);
      await admin.end();
    });
  } else {
    delete env.DATABASE_URL;
    const dataDir = mkdtempSync(path.join(tmpdir(), `paygraph-bench-${label}-`));
    env.DATA_DIR = dataDir;
    removeDataDir = () => rmSync(dataDir, { recursive: true, force: true });
    removers.push(async () => {
      removeDataDir?.();
      if (removeDataDir) cleanups.delete(removeDataDir);
    });
  }

  if (TOPOLOGY === 'processes') return startProcesses(env, adminEmail, removers);

  const child = spawn('npm', ['start'], { cwd: path.resolve(import.meta.dirname, '..'), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group has already exited
    }
  };
  const kill = () => signalGroup('SIGKILL');
  cleanups.add(kill);
  // Interrupted: the exit handler kills the platform, then removes its data (insertion order).
  if (removeDataDir) cleanups.add(removeDataDir);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    signalGroup('SIGINT');
    const outcome = await Promise.race([exited.then(() => 'exited'), sleep(15_000).then(() => 'timeout')]);
    if (outcome === 'timeout') signalGroup('SIGKILL');
    // npm may exit before its children: make sure nothing of the group is left.
    await sleep(200);
    kill();
    cleanups.delete(kill);
    for (const remove of removers) await remove().catch(() => {});
  };
  try {
    const gatewayUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not become ready in time:\n${output}`)), 120_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const ready = /Gateway ready at (\S+) /.exec(output);
        if (ready) {
          clearTimeout(timer);
          resolve(ready[1]!);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited with ${code}:\n${output}`));
      });
    });
    // npm -> sh -> tsx -> node: the platform is the node process with the most memory.
    const candidates = descendants(child.pid!).map((pid) => ({ pid, rss: rssBytes(pid) })).filter((entry) => Number.isFinite(entry.rss));
    const platformPid = candidates.sort((a, b) => b.rss - a.rss)[0]?.pid;
    if (!platformPid) throw new Error('could not find the platform process');
    return { gatewayUrl, metricsUrl: gatewayUrl.replace(/\/graphql$/, '/metrics'), pid: platformPid, cpuSeconds: () => cpuSeconds(platformPid), adminEmail, output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** `processes`: every port fixed up front (the gateway finds the subgraphs through them). */
async function startProcesses(env: NodeJS.ProcessEnv, adminEmail: string, removers: (() => Promise<void>)[]): Promise<Platform> {
  const services = loadServiceList({});
  env.PORT = String(await freePort());
  for (const service of services) env[`${service.name.toUpperCase()}_PORT`] = String(await freePort());
  const remove = async () => {
    for (const remover of removers) await remover().catch(() => {});
  };
  let started: Awaited<ReturnType<typeof startServiceProcesses>>;
  try {
    started = await startServiceProcesses(env, services);
  } catch (error) {
    await remove();
    throw error;
  }
  const { gatewayUrl, groups } = started;
  // npm -> sh -> tsx -> node: the gateway is the node process of its group with the most memory.
  const candidates = descendants(groups.gateway!).map((pid) => ({ pid, rss: rssBytes(pid) })).filter((entry) => Number.isFinite(entry.rss));
  const gatewayPid = candidates.sort((a, b) => b.rss - a.rss)[0]?.pid;
  const stop = async () => {
    await started.stop();
    await remove();
  };
  if (!gatewayPid) {
    await stop();
    throw new Error('could not find the gateway process');
  }
  return {
    gatewayUrl,
    metricsUrl: gatewayUrl.replace(/\/graphql$/, '/metrics'),
    pid: gatewayPid,
    cpuSeconds: () => Object.entries(cpuSnapshot(groups)).reduce((sum, [name, ms]) => (name === 'postgresql' ? sum : sum + ms / 1000), 0),
    adminEmail,
    output: started.output,
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Memory and metrics of the platform process

async function metrics(platform: Platform): Promise<Record<string, number>> {
  const text = await (await fetch(platform.metricsUrl)).text();
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) values[match[1]!] = Number(match[2]);
  }
  return values;
}

const activeSubscriptions = async (platform: Platform) => (await metrics(platform)).graphql_subscriptions_active ?? NaN;

/**
 * The platform's inspector (SIGUSR1 opens it on 127.0.0.1:9229, loopback only): full garbage
 * collections before memory samples, so that heap figures count live objects only, and on request
 * a CPU profile of the firing phase and heap snapshots (BENCH_PROFILE_DIR). Unavailable (port
 * taken, BENCH_FORCE_GC=0): samples are taken as they are.
 */
class PlatformInspector {
  private socket: WebSocket | null = null;
  private failed = !FORCE_GC;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();
  private chunks: string[] | null = null;

  constructor(private readonly pid: number) {}

  get available() {
    return !this.failed;
  }

  private async connect(): Promise<WebSocket> {
    if (this.socket) return this.socket;
    const probe = createServer();
    const free = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(9229, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (!free) throw new Error('127.0.0.1:9229 is taken');
    process.kill(this.pid, 'SIGUSR1');
    let url: string | undefined;
    for (let attempt = 0; attempt < 50 && !url; attempt += 1) {
      await sleep(100);
      try {
        const targets = (await (await fetch('http://127.0.0.1:9229/json/list')).json()) as { webSocketDebuggerUrl: string }[];
        url = targets[0]?.webSocketDebuggerUrl;
      } catch {
        // not listening yet
      }
    }
    if (!url) throw new Error('the inspector did not open');
    const socket = new WebSocket(url, { maxPayload: 1024 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('open', () => resolve());
    });
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.method === 'HeapProfiler.addHeapSnapshotChunk') this.chunks?.push(message.params.chunk);
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new Error(JSON.stringify(message.error)));
      else waiter.resolve(message.result);
    });
    this.socket = socket;
    return socket;
  }

  async call(method: string, params: Record<string, unknown> = {}): Promise<any> {
    if (this.failed) return null;
    try {
      const socket = await this.connect();
      const id = this.nextId++;
      return await new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method, params }));
        setTimeout(() => reject(new Error(`${method} timed out`)), 120_000).unref();
      });
    } catch (error) {
      this.failed = true;
      console.log(`  (platform inspector unavailable: ${(error as Error).message}; heap figures include garbage)`);
      return null;
    }
  }

  collectGarbage = () => this.call('HeapProfiler.collectGarbage');

  /** Starts counting the platform's GC pauses by kind (perf_hooks 'gc' entries). */
  async watchGc(): Promise<void> {
    const expression = `(() => {
      const { PerformanceObserver } = process.getBuiltinModule('node:perf_hooks');
      globalThis.__benchGc?.observer.disconnect();
      const state = { pauses: {}, observer: new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          const kind = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' }[entry.detail?.kind] ?? 'other';
          const pause = (state.pauses[kind] ??= { count: 0, ms: 0, maxMs: 0 });
          pause.count += 1;
          pause.ms += entry.duration;
          pause.maxMs = Math.max(pause.maxMs, entry.duration);
        }
      }) };
      state.observer.observe({ entryTypes: ['gc'] });
      globalThis.__benchGc = state;
    })()`;
    await this.call('Runtime.evaluate', { expression });
  }

  /** The GC pauses since watchGc(), by kind; stops counting. */
  async gcPauses(): Promise<Record<string, { count: number; ms: number; maxMs: number }> | null> {
    const result = await this.call('Runtime.evaluate', { expression: 'globalThis.__benchGc?.observer.disconnect(), JSON.stringify(globalThis.__benchGc?.pauses ?? null)', returnByValue: true });
    return result?.result?.value ? JSON.parse(result.result.value) : null;
  }

  async heapSnapshot(file: string): Promise<void> {
    this.chunks = [];
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    writeFileSync(file, this.chunks.join(''));
    this.chunks = null;
  }

  close() {
    this.socket?.close();
  }
}

interface MemorySample {
  rss: number;
  promRss: number;
  heapUsed: number;
  external: number;
}

/**
 * The median of a few samples a second apart (each after a full GC when possible), once RSS has
 * settled: after a burst of work V8 and the allocator give pages back over several seconds (RSS
 * fell by about 40 MiB some 5 s after the warm-up), which would otherwise land in one sample set.
 */
async function memory(platform: Platform, inspector: PlatformInspector): Promise<MemorySample> {
  const settleUntil = Date.now() + 20_000;
  const recent: number[] = [];
  while (Date.now() < settleUntil) {
    await inspector.collectGarbage();
    recent.push(rssBytes(platform.pid));
    const window = recent.slice(-4);
    if (window.length === 4 && Math.max(...window) - Math.min(...window) < 1024 * 1024) break;
    await sleep(1_000);
  }
  const samples: MemorySample[] = [];
  for (let index = 0; index < MEMORY_SAMPLES; index += 1) {
    await sleep(1_000);
    await inspector.collectGarbage();
    const values = await metrics(platform);
    samples.push({
      rss: rssBytes(platform.pid),
      promRss: values.process_resident_memory_bytes ?? NaN,
      heapUsed: values.nodejs_heap_size_used_bytes ?? NaN,
      external: values.nodejs_external_memory_bytes ?? NaN,
    });
  }
  return {
    rss: median(samples.map((sample) => sample.rss)),
    promRss: median(samples.map((sample) => sample.promRss)),
    heapUsed: median(samples.map((sample) => sample.heapUsed)),
    external: median(samples.map((sample) => sample.external)),
  };
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

// ---------------------------------------------------------------------------------------------
// Subscribers

/** What one phase (warm-up or measure) collects from its subscribers. */
class Collector {
  latencies: number[] = [];
  /** payOrder's HTTP response to the SUCCEEDED delivery, per delivery. */
  afterResponse: number[] = [];
  paidAt = new Map<string, number>();
  received = 0;
  duplicates = 0;
  errors: string[] = [];
  ended = 0;
  private waiters = new Set<() => void>();

  onResult(seen: Set<string>, value: { data?: Record<string, any> | null; errors?: readonly { message: string }[] }) {
    const receivedAt = Date.now();
    if (value.errors?.length) {
      if (this.errors.length < 5) this.errors.push(JSON.stringify(value.errors));
      else this.errors.push('');
    }
    const event = value.data?.paymentStatusChanged;
    if (!event) return;
    if (seen.has(event.sequence)) {
      this.duplicates += 1;
      return;
    }
    seen.add(event.sequence);
    this.received += 1;
    this.latencies.push(receivedAt - Date.parse(event.occurredAt));
    const paidAt = event.status === 'SUCCEEDED' ? this.paidAt.get(event.payment?.id) : undefined;
    if (paidAt !== undefined) this.afterResponse.push(receivedAt - paidAt);
    for (const wake of this.waiters) wake();
  }

  /** Resolves once `expected` deliveries arrived, or after the timeout; true when all arrived. */
  async waitFor(expected: () => number, timeoutMs: number): Promise<boolean> {
    if (this.received >= expected()) return true;
    return new Promise((resolve) => {
      const check = () => {
        if (this.received < expected()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(check);
    });
  }
}

interface Subscriber {
  merchant: number;
  client: Client;
}

/**
 * Opens `count` connections with one subscription each, `BATCH` at a time (each batch waits for
 * its connection acknowledgements), subscriber i watching merchant i mod M; then waits until the
 * gateway counts them all as live.
 */
async function openSubscribers(platform: Platform, merchants: TestUser[], count: number, collector: Collector): Promise<{ subscribers: Subscriber[]; seconds: number }> {
  const wsUrl = platform.gatewayUrl.replace(/^http/, 'ws');
  const before = await activeSubscriptions(platform);
  const started = Date.now();
  const subscribers: Subscriber[] = [];
  for (let first = 0; first < count; first += BATCH) {
    const acknowledged: Promise<void>[] = [];
    for (let index = first; index < Math.min(count, first + BATCH); index += 1) {
      const merchant = index % merchants.length;
      let connected!: () => void;
      let failed!: (error: Error) => void;
      acknowledged.push(new Promise<void>((resolve, reject) => ((connected = resolve), (failed = reject))));
      const client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${merchants[merchant]!.accessToken}` },
        retryAttempts: 0,
        lazy: true,
        on: {
          connected: () => connected(),
          closed: (event) => {
            const { code, reason } = event as { code: number; reason: string };
            failed(new Error(`subscriber ${index} closed before acknowledgement: ${code} ${reason}`));
            if (code !== 1000) collector.ended += 1;
          },
        },
      });
      const seen = new Set<string>();
      client.subscribe(
        { query: SUBSCRIPTION },
        {
          next: (value) => collector.onResult(seen, value as { data?: Record<string, any> | null }),
          error: (error) => {
            collector.ended += 1;
            if (collector.errors.length < 5) collector.errors.push(`subscriber ${index}: ${JSON.stringify(error)?.slice(0, 300)}`);
          },
          complete: () => {},
        },
      );
      subscribers.push({ merchant, client });
    }
    await Promise.race([Promise.all(acknowledged), sleep(OPEN_TIMEOUT_MS).then(() => Promise.reject(new Error(`a batch of connections was not acknowledged in ${OPEN_TIMEOUT_MS} ms`)))]);
  }
  const deadline = Date.now() + OPEN_TIMEOUT_MS;
  while ((await activeSubscriptions(platform)) < before + count) {
    if (Date.now() > deadline) throw new Error(`the gateway counts ${await activeSubscriptions(platform)} live subscriptions, expected ${before + count}`);
    await sleep(100);
  }
  return { subscribers, seconds: (Date.now() - started) / 1000 };
}

async function closeSubscribers(platform: Platform, subscribers: Subscriber[]) {
  await Promise.all(subscribers.map((subscriber) => subscriber.client.dispose()));
  const deadline = Date.now() + 30_000;
  while ((await activeSubscriptions(platform)) > 0 && Date.now() < deadline) await sleep(100);
}

// ---------------------------------------------------------------------------------------------
// Payments

interface Fixtures {
  admin: TestUser;
  merchants: TestUser[];
  buyers: TestUser[];
}

async function createFixtures(platform: Platform): Promise<Fixtures> {
  const gatewayUrl = platform.gatewayUrl;
  const urls = { register: gatewayUrl, login: gatewayUrl };
  const admin = await loginAs(gatewayUrl, platform.adminEmail, ADMIN_PASSWORD);
  const rules = await gql(gatewayUrl, `mutation { updateRiskRules(input: { velocityMaxAttempts: 10000, velocityWindowMinutes: 1 }) { version } }`, {}, admin.accessToken);
  if (rules.errors) throw new Error(`could not raise the velocity limit: ${JSON.stringify(rules.errors)}`);
  const merchants: TestUser[] = [];
  for (let index = 0; index < MERCHANTS; index += 1) merchants.push(await registerAndLogin(urls, 'MERCHANT', { name: `Bench Shop ${index}` }));
  const buyers: TestUser[] = [];
  for (let index = 0; index < PAYERS; index += 1) {
    const buyer = await registerAndLogin(urls, 'BUYER', { name: `Bench Buyer ${index}` });
    const funded = await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: { amount: '100000000000', currency: 'USD' }, idempotencyKey: `fund-${index}` } }, buyer.accessToken);
    if (funded.errors) throw new Error(`could not fund a buyer: ${JSON.stringify(funded.errors)}`);
    buyers.push(buyer);
  }
  return { admin, merchants, buyers };
}

/**
 * Fires `count` payments, payment i to merchant i mod M, scheduled at i / RATE seconds, from
 * PAYERS concurrent loops (loop w pays as buyer w). Returns the payments made per merchant and
 * the request latencies (createOrder + payOrder).
 */
async function firePayments(platform: Platform, fixtures: Fixtures, count: number, collector: Collector) {
  const gatewayUrl = platform.gatewayUrl;
  const perMerchant = new Array<number>(fixtures.merchants.length).fill(0);
  const requestMs: number[] = [];
  const failures: string[] = [];
  const started = Date.now();
  let next = 0;
  await Promise.all(
    fixtures.buyers.map(async (buyer) => {
      for (;;) {
        const index = next;
        next += 1;
        if (index >= count) return;
        const due = started + (index * 1000) / RATE;
        if (due > Date.now()) await sleep(due - Date.now());
        const merchant = index % fixtures.merchants.length;
        const requested = performance.now();
        const order = await gql(gatewayUrl, `mutation Order($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: fixtures.merchants[merchant]!.id, amount: { amount: '100', currency: 'USD' } } }, buyer.accessToken);
        if (!order.data?.createOrder) {
          failures.push(JSON.stringify(order.errors));
          continue;
        }
        const paid = await gql(gatewayUrl, `mutation Pay($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: order.data.createOrder.id, idempotencyKey: newId('k') } }, buyer.accessToken);
        const payment = paid.data?.payOrder as { id: string; status: string } | undefined;
        if (!payment) {
          failures.push(JSON.stringify(paid.errors));
          continue;
        }
        collector.paidAt.set(payment.id, Date.now());
        requestMs.push(performance.now() - requested);
        if (payment.status !== 'SUCCEEDED') failures.push(`payment ${payment.id} is ${payment.status}`);
        // PENDING then the final status (SUCCEEDED, or FAILED): two events either way.
        perMerchant[merchant]! += 1;
      }
    }),
  );
  return { perMerchant, requestMs, failures, seconds: (Date.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// One size on a fresh platform

interface Result {
  subscribers: number;
  openSeconds: number;
  expected: number;
  received: number;
  duplicates: number;
  ended: number;
  errors: number;
  failures: number;
  latency: ReturnType<typeof quantiles>;
  afterResponse: ReturnType<typeof quantiles>;
  request: ReturnType<typeof quantiles>;
  paymentsPerSecond: number;
  platformCpu: number;
  generatorCpu: number;
  otherCpu: number;
  generatorLagP99: number;
  before: MemorySample;
  after: MemorySample;
  afterTraffic: MemorySample;
  forcedGc: boolean;
  payloadQueries: number;
  gcPauses: Record<string, { count: number; ms: number; maxMs: number }> | null;
}

async function measure(subscriberCount: number): Promise<Result> {
  const platform = await startPlatform(String(subscriberCount));
  try {
    console.log(`\n${subscriberCount} subscribers (${TOPOLOGY}): ${TOPOLOGY === 'processes' ? 'gateway' : 'platform'} pid ${platform.pid} at ${platform.gatewayUrl} (${databaseServer ? 'PostgreSQL' : 'embedded PGlite'}); load average ${loadavg()[0]!.toFixed(2)}`);
    const fixtures = await createFixtures(platform);
    const counts = (total: number) => fixtures.merchants.map((_unused, merchant) => Math.floor(total / MERCHANTS) + (merchant < total % MERCHANTS ? 1 : 0));

    // Warm-up: the code paths of connecting, subscribing, paying and delivering run before anything is measured.
    const warmup = new Collector();
    const warm = await openSubscribers(platform, fixtures.merchants, WARMUP_SUBSCRIBERS, warmup);
    const warmPayments = await firePayments(platform, fixtures, WARMUP_PAYMENTS, warmup);
    const warmSubscribers = counts(WARMUP_SUBSCRIBERS);
    const warmExpected = warmPayments.perMerchant.reduce((sum, made, merchant) => sum + 2 * made * warmSubscribers[merchant]!, 0);
    await warmup.waitFor(() => warmExpected, DELIVERY_TIMEOUT_MS);
    if (warmup.errors.length > 0) throw new Error(`warm-up deliveries had errors: ${warmup.errors.slice(0, 3).join('; ')}`);
    if (warmup.received < warmExpected) throw new Error(`warm-up: ${warmup.received} of ${warmExpected} deliveries`);
    await closeSubscribers(platform, warm.subscribers);
    await sleep(2_000);

    const inspector = new PlatformInspector(platform.pid);
    const before = await memory(platform, inspector);
    if (PROFILE_DIR && HEAP_SNAPSHOTS) await inspector.heapSnapshot(path.join(PROFILE_DIR, `${subscriberCount}-before.heapsnapshot`));
    console.log(`  before: RSS ${mib(before.rss)} MiB (metrics ${mib(before.promRss)}), heap used ${mib(before.heapUsed)} MiB, external ${mib(before.external)} MiB`);

    const collector = new Collector();
    const opened = await openSubscribers(platform, fixtures.merchants, subscriberCount, collector);
    console.log(`  opened ${subscriberCount} subscriptions in ${opened.seconds.toFixed(1)} s`);
    await sleep(3_000);
    const after = await memory(platform, inspector);
    if (PROFILE_DIR && HEAP_SNAPSHOTS) await inspector.heapSnapshot(path.join(PROFILE_DIR, `${subscriberCount}-after.heapsnapshot`));
    console.log(`  after opening: RSS ${mib(after.rss)} MiB (metrics ${mib(after.promRss)}), heap used ${mib(after.heapUsed)} MiB, external ${mib(after.external)} MiB`);

    const subscribersOf = counts(subscriberCount);
    const payloadBefore = (await metrics(platform))['graphql_request_duration_seconds_count{operation="PaymentStatusChangedPayload",outcome="ok"}'] ?? 0;
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    if (PROFILE_DIR) {
      await inspector.call('Profiler.enable');
      await inspector.call('Profiler.setSamplingInterval', { interval: 500 });
      await inspector.call('Profiler.start');
    }
    await inspector.watchGc();
    const cpuBefore = platform.cpuSeconds();
    const gatewayCpuBefore = cpuSeconds(platform.pid);
    const generatorCpuBefore = process.cpuUsage();
    const machineCpuBefore = machineCpuSeconds();
    const firedAt = Date.now();
    const fired = await firePayments(platform, fixtures, PAYMENTS, collector);
    const expected = fired.perMerchant.reduce((sum, made, merchant) => sum + 2 * made * subscribersOf[merchant]!, 0);
    await collector.waitFor(() => expected, DELIVERY_TIMEOUT_MS);
    const windowSeconds = (Date.now() - firedAt) / 1000;
    const platformCpu = (platform.cpuSeconds() - cpuBefore) / windowSeconds;
    const gatewayCpu = (cpuSeconds(platform.pid) - gatewayCpuBefore) / windowSeconds;
    const generatorCpuUsed = process.cpuUsage(generatorCpuBefore);
    const generatorCpu = (generatorCpuUsed.user + generatorCpuUsed.system) / 1e6 / windowSeconds;
    const otherCpu = (machineCpuSeconds() - machineCpuBefore) / windowSeconds - platformCpu - generatorCpu;
    lag.disable();
    const gcPauses = await inspector.gcPauses();
    if (PROFILE_DIR) {
      const profile = await inspector.call('Profiler.stop');
      if (profile) writeFileSync(path.join(PROFILE_DIR, `${subscriberCount}-firing.cpuprofile`), JSON.stringify(profile.profile));
    }
    const payloadQueries = ((await metrics(platform))['graphql_request_duration_seconds_count{operation="PaymentStatusChangedPayload",outcome="ok"}'] ?? 0) - payloadBefore;
    await sleep(2_000); // anything late or duplicated
    const afterTraffic = await memory(platform, inspector);

    const result: Result = {
      subscribers: subscriberCount,
      openSeconds: opened.seconds,
      expected,
      received: collector.received,
      duplicates: collector.duplicates,
      ended: collector.ended,
      errors: collector.errors.length,
      failures: fired.failures.length,
      latency: quantiles(collector.latencies),
      afterResponse: quantiles(collector.afterResponse),
      request: quantiles(fired.requestMs),
      paymentsPerSecond: fired.requestMs.length / fired.seconds,
      platformCpu,
      generatorCpu,
      otherCpu,
      generatorLagP99: lag.percentile(99) / 1e6,
      before,
      after,
      afterTraffic,
      forcedGc: inspector.available,
      payloadQueries,
      gcPauses,
    };
    const { latency } = result;
    console.log(`  ${fired.requestMs.length} payments in ${fired.seconds.toFixed(1)} s (${result.paymentsPerSecond.toFixed(1)}/s, createOrder+payOrder p50 ${result.request.p50.toFixed(0)} ms, p99 ${result.request.p99.toFixed(0)} ms), ${payloadQueries} federated payload queries`);
    console.log(`  deliveries ${result.received} of ${expected} (missing ${expected - result.received}, duplicates ${result.duplicates}, ended subscriptions ${result.ended}, errors ${result.errors}, failed payments ${result.failures})`);
    console.log(`  delivery latency ms: p50 ${latency.p50} p90 ${latency.p90} p99 ${latency.p99} max ${latency.max}; payOrder response -> SUCCEEDED p50 ${result.afterResponse.p50} p99 ${result.afterResponse.p99}`);
    console.log(
      `  CPU while firing (% of one core): platform ${(platformCpu * 100).toFixed(0)}%${TOPOLOGY === 'processes' ? ` (the gateway ${(gatewayCpu * 100).toFixed(0)}%)` : ''}, this load generator ${(generatorCpu * 100).toFixed(0)}% (its event loop delay p99 ${result.generatorLagP99.toFixed(1)} ms), ` +
        `everything else on the machine ${(otherCpu * 100).toFixed(0)}%${databaseServer ? ' (PostgreSQL included)' : ''} of ${cpus().length * 100}%`,
    );
    if (gcPauses) {
      const shown = Object.entries(gcPauses).map(([kind, pause]) => `${kind} ${pause.count} x, ${pause.ms.toFixed(0)} ms in all, longest ${pause.maxMs.toFixed(0)} ms`);
      const all = Object.values(gcPauses).reduce((sum, pause) => sum + pause.ms, 0);
      console.log(`  platform GC pauses while firing (${windowSeconds.toFixed(1)} s): ${shown.join('; ')}; ${((all / 1000 / windowSeconds) * 100).toFixed(0)}% of the time`);
    }
    console.log(`  after traffic: RSS ${mib(afterTraffic.rss)} MiB, heap used ${mib(afterTraffic.heapUsed)} MiB`);
    if (collector.errors.length > 0) console.log(`  first errors: ${collector.errors.filter(Boolean).slice(0, 3).join('\n    ')}`);
    if (fired.failures.length > 0) console.log(`  first payment failures: ${fired.failures.slice(0, 3).join('\n    ')}`);
    await closeSubscribers(platform, opened.subscribers);
    inspector.close();
    return result;
  } finally {
    await platform.stop();
    if (PROFILE_DIR) writeFileSync(path.join(PROFILE_DIR, `${subscriberCount}-platform.log`), platform.output());
  }
}

checkOpenFiles();
if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
console.log(
  `subscriptions: ${sizes.join(' and ')} subscribers over ${MERCHANTS} merchants (one connection each), ${PAYMENTS} payments at ${RATE}/s from ${PAYERS} buyers; ` +
    `platform: npm start (gateway and subgraphs in one process) on ${databaseServer ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite (fresh DATA_DIR)'}, fresh for each size`,
);
const results: Result[] = [];
for (const size of sizes) results.push(await measure(size));

const kib = (bytes: number, count: number) => (bytes / count / 1024).toFixed(1);
console.log('\n| subscribers | open (s) | payments/s | deliveries (missing) | delivery p50 / p90 / p99 / max ms | payOrder response -> SUCCEEDED p50 / p99 ms | RSS KiB/subscriber | heap KiB/subscriber | CPU platform / generator / rest (% of a core) |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const result of results) {
  const { latency, afterResponse } = result;
  console.log(
    `| ${result.subscribers} | ${result.openSeconds.toFixed(1)} | ${result.paymentsPerSecond.toFixed(1)} | ${result.received} (${result.expected - result.received}) | ${latency.p50} / ${latency.p90} / ${latency.p99} / ${latency.max} | ${afterResponse.p50} / ${afterResponse.p99} | ` +
      `${kib(result.after.rss - result.before.rss, result.subscribers)} | ${kib(result.after.heapUsed - result.before.heapUsed, result.subscribers)} | ` +
      `${(result.platformCpu * 100).toFixed(0)} / ${(result.generatorCpu * 100).toFixed(0)} / ${(result.otherCpu * 100).toFixed(0)} |`,
  );
}
console.log(`\nmemory: once RSS settled, median of ${MEMORY_SAMPLES} samples 1 s apart${results.every((result) => result.forcedGc) ? ', each after a full GC in the platform' : ''}; RSS from /proc/<pid>/status VmRSS of the platform process, heap from /metrics nodejs_heap_size_used_bytes`);
const worst = results.find((result) => result.subscribers === 5000);
if (worst) {
  const p99Met = worst.latency.p99 < 250 && worst.received === worst.expected;
  // Judged on the larger of the two: RSS grows less than the heap while the heap fills pages it already held.
  const perSubscriber = Math.max(worst.after.rss - worst.before.rss, worst.after.heapUsed - worst.before.heapUsed) / worst.subscribers / 1024;
  console.log(
    `targets at 5000: p99 < 250 ms ${p99Met ? 'met' : 'MISSED'} (${worst.latency.p99} ms, missing ${worst.expected - worst.received}); ` +
      `< 20 KiB per subscriber ${perSubscriber < 20 ? 'met' : 'MISSED'} (RSS ${kib(worst.after.rss - worst.before.rss, worst.subscribers)} KiB, heap ${kib(worst.after.heapUsed - worst.before.heapUsed, worst.subscribers)} KiB)`,
  );
}
process.exit(results.every((result) => result.received === result.expected) ? 0 : 1);
