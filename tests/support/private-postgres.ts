/**
 * A private PostgreSQL cluster for tests that must restart or stop the database (the shared server
 * on 5432 is never touched). initdb refuses to run as root, so when the test runs as root every
 * server command runs as the `postgres` user (runuser) in a fresh temp directory that user owns.
 * The cluster listens on 127.0.0.1 only, on a free port that stays the same across restarts, with
 * flushing to disk switched off for speed (fsync, full_page_writes): only an operating-system crash
 * could lose data, and tests never crash the machine. synchronous_commit stays on: with it off a
 * commit is acknowledged before its WAL leaves shared memory, so `-m immediate` (which kills the
 * server processes) loses acknowledged transactions, which is not the server we promise to
 * survive (the fault suite caught an acknowledged createOrder gone after such a restart).
 *
 *   const cluster = await createPrivatePostgres();
 *   const url = await cluster.createDatabase('payments');
 *   await cluster.restart('immediate');
 *   await cluster.stop('fast'); ...; await cluster.start();
 *   await cluster.destroy();
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '@paygraph/testing';

/** The PostgreSQL 15 binaries of this machine; PG_BIN overrides (e.g. another major version). */
const POSTGRES_BIN_DIRECTORY = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const SERVER_USER = 'postgres';
/** pg_ctl waits for start/stop; crash recovery after -m immediate on a small cluster takes ~1 s. */
const PG_CTL_WAIT_SECONDS = 30;
const COMMAND_TIMEOUT_MS = 60_000;
/** Enough for seven subgraph pools plus test clients. */
const MAX_CONNECTIONS = 300;

export type ShutdownMode = 'smart' | 'fast' | 'immediate';

export interface PrivatePostgres {
  readonly port: number;
  /** Directory holding the data directory, the socket and the server log; removed by destroy(). */
  readonly directory: string;
  /** URL of the cluster's `postgres` database (user postgres, trust authentication). */
  readonly url: string;
  /** URL of another database of the cluster (not created; see createDatabase). */
  urlOf(database: string): string;
  createDatabase(name: string): Promise<string>;
  start(): Promise<void>;
  /** pg_ctl stop -m mode; 'immediate' is a crash (no checkpoint, recovery on the next start). */
  stop(mode?: ShutdownMode): Promise<void>;
  restart(mode?: ShutdownMode): Promise<void>;
  running(): boolean;
  /** The server log so far, for failure messages. */
  log(): string;
  /** Stops the cluster (immediate) if running and removes its directory. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface PrivatePostgresOptions {
  /** Extra server settings, e.g. { max_connections: '50' }. */
  settings?: Record<string, string>;
  /** Start right away (default true). */
  start?: boolean;
}

const liveClusters = new Set<{ directory: string; dataDirectory: string }>();
let exitHookInstalled = false;

/** A cluster left running by a crashed test must not outlive the test process, nor its files. */
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const cluster of liveClusters) {
      try {
        execFileSync(...asServerUser(path.join(POSTGRES_BIN_DIRECTORY, 'pg_ctl'), ['stop', '-D', cluster.dataDirectory, '-m', 'immediate', '-w', '-t', '10']), {
          stdio: 'ignore',
          cwd: path.dirname(cluster.dataDirectory),
          timeout: 15_000,
        });
      } catch {
        // already stopped, or nothing more we can do at exit
      }
      rmSync(cluster.directory, { recursive: true, force: true });
    }
  });
}

function runsAsRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** [file, args] running `command` as the postgres user when we are root, as ourselves otherwise. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (!runsAsRoot()) return [command, args];
  return ['runuser', ['-u', SERVER_USER, '--', command, ...args]];
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  const [file, fileArgs] = asServerUser(command, args);
  return new Promise((resolve, reject) => {
    execFile(file, fileArgs, { cwd, timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Ports for the clusters and processes tests start: the shared chooser (below the ephemeral range). */
export { freePort };

function serverUserIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', SERVER_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', SERVER_USER], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export async function createPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const directory = mkdtempSync(path.join(tmpdir(), 'paygraph-pg-'));
  if (runsAsRoot()) {
    const { uid, gid } = serverUserIds();
    chownSync(directory, uid, gid);
  }
  const dataDirectory = path.join(directory, 'data');
  const logFile = path.join(directory, 'server.log');
  const port = await freePort();
  const handle = { directory, dataDirectory };
  const pgCtl = path.join(POSTGRES_BIN_DIRECTORY, 'pg_ctl');
  let isRunning = false;
  let destroyed = false;

  try {
    await run(path.join(POSTGRES_BIN_DIRECTORY, 'initdb'), ['-D', dataDirectory, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], directory);
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }

  const settings: Record<string, string> = {
    port: String(port),
    listen_addresses: '127.0.0.1',
    unix_socket_directories: directory,
    fsync: 'off',
    full_page_writes: 'off',
    max_connections: String(MAX_CONNECTIONS),
    ...options.settings,
  };
  const serverOptions = Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;

  const cluster: PrivatePostgres = {
    port,
    directory,
    url: urlOf('postgres'),
    urlOf,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name must be a plain identifier: ${name}`);
      await run(path.join(POSTGRES_BIN_DIRECTORY, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', name], directory);
      return urlOf(name);
    },
    async start() {
      if (destroyed) throw new Error('cluster destroyed');
      if (isRunning) return;
      await run(pgCtl, ['start', '-D', dataDirectory, '-l', logFile, '-w', '-t', String(PG_CTL_WAIT_SECONDS), '-o', serverOptions], directory);
      isRunning = true;
    },
    async stop(mode = 'fast') {
      if (!isRunning) return;
      await run(pgCtl, ['stop', '-D', dataDirectory, '-m', mode, '-w', '-t', String(PG_CTL_WAIT_SECONDS)], directory);
      isRunning = false;
    },
    async restart(mode = 'fast') {
      await cluster.stop(mode);
      await cluster.start();
    },
    running: () => isRunning,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async destroy() {
      if (destroyed) return;
      try {
        await cluster.stop('immediate');
      } finally {
        destroyed = true;
        liveClusters.delete(handle);
        rmSync(directory, { recursive: true, force: true });
      }
    },
  };

  installExitHook();
  liveClusters.add(handle);
  if (options.start !== false) {
    try {
      await cluster.start();
    } catch (error) {
      await cluster.destroy().catch(() => undefined);
      throw error;
    }
  }
  return cluster;
}
