/**
 * One service of the platform as its own process, from its workspace entry: `node --import tsx
 * <entry>` is what `npm start -w <workspace>` runs (tsx src/index.ts) minus the tsx CLI's own parent
 * process. start() waits for the service's ready line; kill() crashes it, stop() is Ctrl-C. Used by
 * the scale-out fault test and the instances e2e test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { repositoryRoot } from '@paygraph/config';

/** A start that takes longer than this fails (a loaded 2-core machine starts ten processes slowly). */
export const PROCESS_START_TIMEOUT_MS = 120_000;
/** How much of a process's output an error quotes. */
export const OUTPUT_TAIL_CHARS = 4_000;

export interface ServiceProcess {
  label: string;
  port: number;
  url: string;
  /** Milliseconds from spawn to the ready line, per start. */
  startDurationsMs: number[];
  start(): Promise<void>;
  /** SIGKILL to the whole process group. */
  kill(): Promise<void>;
  /** SIGINT, then SIGKILL after a while. */
  stop(): Promise<void>;
  output(): string;
}

export function serviceProcess(label: string, entry: string, port: number, env: Record<string, string>, readyLine: RegExp): ServiceProcess {
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  const url = `http://127.0.0.1:${port}/graphql`;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child?.pid) process.kill(-child.pid, signal);
    } catch {
      // the group has already exited
    }
  };
  const self: ServiceProcess = {
    label,
    port,
    url,
    startDurationsMs: [],
    async start() {
      const startedAt = Date.now();
      output = '';
      const spawned = spawn(process.execPath, ['--import', 'tsx', entry], {
        cwd: repositoryRoot,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      child = spawned;
      exited = new Promise((resolve) => spawned.once('exit', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${label} did not become ready in time:\n${output.slice(-OUTPUT_TAIL_CHARS)}`)), PROCESS_START_TIMEOUT_MS);
        const onData = (chunk: Buffer) => {
          output = (output + chunk.toString()).slice(-64_000);
          if (readyLine.test(output)) {
            clearTimeout(timer);
            resolve();
          }
        };
        spawned.stdout!.on('data', onData);
        spawned.stderr!.on('data', onData);
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`${label} exited while starting:\n${output.slice(-OUTPUT_TAIL_CHARS)}`));
        });
      });
      self.startDurationsMs.push(Date.now() - startedAt);
    },
    async kill() {
      signalGroup('SIGKILL');
      await exited;
    },
    async stop() {
      signalGroup('SIGINT');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    output: () => output,
  };
  return self;
}
