/**
 * Runs `npm start` as a user does, in its own process group, on free ports, and waits for the
 * line announcing the gateway. stop() sends Ctrl-C (SIGINT) to the group, as a terminal would.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { loadServiceList } from '@paygraph/config';
import { TEST_SERVICE_SECRET } from './constants';

const STARTUP_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 15_000;

export interface SpawnedPlatform {
  gatewayUrl: string;
  subgraphUrls: Record<string, string>;
  output: () => string;
  /** The process group's id (npm's pid): `process.kill(-pid, 'SIGKILL')` crashes the whole platform. */
  pid: number;
  /** Resolves with the exit code (null when killed by a signal) once the platform process has ended. */
  exited: Promise<number | null>;
  /** Ctrl-C; resolves 'exited' when the process ended by itself, 'killed' when it had to be killed. */
  stop(): Promise<'exited' | 'killed'>;
}

export async function spawnPlatform(env: Record<string, string>): Promise<SpawnedPlatform> {
  const child = spawn('npm', ['start'], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: {
      ...process.env,
      PORT: '0',
      ...Object.fromEntries(loadServiceList({}).map((service) => [`${service.name.toUpperCase()}_PORT`, '0'])),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      SERVICE_SECRET: TEST_SERVICE_SECRET,
      // The suite signs up and logs in hundreds of users from 127.0.0.1: rate limits and throttles
      // are off unless a test turns them on (tests/security/rate-limits.e2e.test.ts does).
      RATE_LIMITS: 'off',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  // 'close', not 'exit': 'exit' can come before the last output is read from the pipes (Node's
  // docs), so a check of the final log lines right after stop() could miss them (CI, 2026-12-02:
  // 'SIGINT: stopping' missing from an output read on 'exit').
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const urls = await new Promise<{ gateway: string; subgraphs: Record<string, string> }>((resolve, reject) => {
    const subgraphs: Record<string, string> = {};
    const timer = setTimeout(() => reject(new Error(`npm start did not become ready in time:\n${output}`)), STARTUP_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // Start-up lines are JSON: the message says "subgraph <name> at <url> is ready", "Gateway ready at <url> ...".
      for (const match of output.matchAll(/subgraph (\S+) at (\S+) is ready/g)) subgraphs[match[1]!] = match[2]!;
      const ready = /Gateway ready at (\S+) /.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve({ gateway: ready[1]!, subgraphs });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${output}`));
    });
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group has already exited
    }
  };
  return {
    gatewayUrl: urls.gateway,
    subgraphUrls: urls.subgraphs,
    output: () => output,
    pid: child.pid!,
    exited,
    stop: async () => {
      signalGroup('SIGINT');
      const outcome = await Promise.race([exited.then(() => 'exited' as const), new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS).unref())]);
      if (outcome === 'exited') return outcome;
      signalGroup('SIGKILL');
      await exited;
      return 'killed';
    },
  };
}
