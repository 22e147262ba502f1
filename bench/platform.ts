/**
 * The platform in the shape docker-compose.yml deploys it, for benchmarks: one process per service
 * and one for the gateway (`npm start -w <workspace>` each, in its own process group), so the OS
 * spreads them over the cores. `bench:payments` compares it with `npm start` (one process);
 * `bench:subscriptions` runs the same fan-out with the gateway's event loop to itself.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { ServiceEntry } from '@paygraph/config';

/** `npm <args>` in its own process group; `url` is the first group of `ready` in its output. */
export function spawnReady(args: string[], env: NodeJS.ProcessEnv, ready: RegExp) {
  const child = spawn('npm', args, { cwd: path.resolve(import.meta.dirname, '..'), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  // Never leave a platform behind, even when the benchmark itself is interrupted.
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killGroup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm ${args.join(' ')} did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`npm ${args.join(' ')} exited with ${code}:\n${output}`)));
  });
  const stop = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid!, 'SIGINT');
    } catch {
      return;
    }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    killGroup();
  };
  return { url, stop, pid: child.pid!, output: () => output };
}

/**
 * Auth first (the others verify tokens with its keys), then the other services, then the gateway.
 * `env` names every port (PORT and <SERVICE>_PORT): the gateway finds the subgraphs through them.
 * `groups` are the process group ids by name (`gateway`, and each service's), for CPU figures.
 */
export async function startServiceProcesses(env: NodeJS.ProcessEnv, services: readonly ServiceEntry[]) {
  const started: { stop: () => Promise<void>; output: () => string }[] = [];
  const groups: Record<string, number> = {};
  const stop = async () => void (await Promise.all(started.map((process) => process.stop())));
  try {
    const auth = spawnReady(['start', '-w', 'subgraphs/auth'], env, /auth subgraph ready at (\S+)/);
    started.push(auth);
    groups.auth = auth.pid;
    await auth.url;
    const others = services
      .filter((service) => service.name !== 'auth')
      .map((service) => {
        const child = spawnReady(['start', '-w', `subgraphs/${service.name}`], env, new RegExp(`${service.name} subgraph ready at (\\S+)`));
        groups[service.name] = child.pid;
        return child;
      });
    started.push(...others);
    await Promise.all(others.map((other) => other.url));
    const gateway = spawnReady(['start', '-w', 'gateway'], env, /Gateway ready at (\S+)/);
    started.push(gateway);
    groups.gateway = gateway.pid;
    const gatewayUrl = await gateway.url;
    return { gatewayUrl, groups, stop, output: () => started.map((process) => process.output()).join('') };
  } catch (error) {
    await stop();
    throw error;
  }
}
