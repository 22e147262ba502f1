/**
 * Runs a second gateway as its own process (`npm start -w gateway` does the same), pointed at
 * subgraphs that already run, and waits for its ready line. stop() sends SIGINT, then SIGKILL.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { TEST_SERVICE_SECRET } from './constants';

export interface SpawnedGateway {
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

export async function spawnGateway(subgraphUrls: Record<string, string>, env: Record<string, string>): Promise<SpawnedGateway> {
  const root = path.resolve(import.meta.dirname, '../..');
  const child = spawn(path.join(root, 'node_modules/.bin/tsx'), ['gateway/src/index.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      SERVICE_SECRET: TEST_SERVICE_SECRET,
      RATE_LIMITS: 'off', // as the platform of the suite; a test about rate limits turns them on
      ...Object.fromEntries(Object.entries(subgraphUrls).map(([name, url]) => [`${name.toUpperCase()}_URL`, url])),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not become ready in time:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /Gateway ready at (\S+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited:\n${output}`));
    });
  });
  return {
    url,
    output: () => output,
    stop: async () => {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
