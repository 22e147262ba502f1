/**
 * Ports for the processes a test or a benchmark starts. A port taken from listen(0) is in the
 * kernel's ephemeral range, the range outgoing connections take their local port from: between
 * choosing it and the child process binding it, a connection to PostgreSQL or a subgraph may take
 * it, and the child fails with EADDRINUSE (seen in bench:payments). These ports come from below
 * that range, where no outgoing connection lands; each is checked free by binding it, and one
 * process never hands out the same port twice. Processes start their walk at different places (by
 * pid), so two test workers rarely try the same ports.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST_PORT = 10_000;
const TRIES = 500;

/** The first port of the kernel's ephemeral range (32768 where it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A chooser over [low, high], starting at `start`; exported for its tests. */
export function portChooser(options: { low: number; high: number; start: number; host?: string }): () => Promise<number> {
  const { low, high } = options;
  const host = options.host ?? '127.0.0.1';
  const handedOut = new Set<number>();
  let cursor = Math.min(Math.max(options.start, low), high);
  return async () => {
    for (let tries = 0; tries < TRIES && handedOut.size <= high - low; tries += 1) {
      const port = cursor;
      cursor = cursor >= high ? low : cursor + 1;
      if (handedOut.has(port)) continue;
      handedOut.add(port); // taken before the check awaits, so calls made together get different ports
      if (await canListen(port, host)) return port;
    }
    // A range this crowded is not expected; the kernel's choice still works most of the time.
    return kernelPort(host);
  };
}

let chooser: (() => Promise<number>) | undefined;

/** A port on 127.0.0.1 that is free now, below the ephemeral range, never handed out before by this process. */
export function freePort(): Promise<number> {
  if (!chooser) {
    const high = ephemeralLow() - 1;
    chooser =
      high - LOWEST_PORT < 1_000
        ? () => kernelPort('127.0.0.1')
        : portChooser({ low: LOWEST_PORT, high, start: LOWEST_PORT + ((process.pid * 7_919) % (high - LOWEST_PORT + 1)) });
  }
  return chooser();
}
