// Ports for started processes: below the ephemeral range (no outgoing connection can take one
// before the child binds it), free when handed out, never handed out twice, busy ones skipped.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, portChooser } from '../src/ports';

const listenOn = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
const close = (server: Server) => new Promise((resolve) => server.close(resolve));

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range that can be bound, also when asked together', async () => {
    const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
    expect(new Set(ports).size).toBe(40);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(ephemeralLow);
    }
    const servers = await Promise.all(ports.map(listenOn));
    await Promise.all(servers.map(close));
  });

  it('skips a port someone listens on, and wraps around the range', async () => {
    // Two adjacent ports below the ephemeral range, the upper one made busy here. (A port from
    // listen(0) is in the ephemeral range, where its neighbour may be any connection's local port:
    // the chooser then found both busy and fell back to the kernel's choice, in a CI run.)
    let low = 0;
    let busy: Server | undefined;
    for (let attempt = 0; attempt < 20 && !busy; attempt += 1) {
      low = await freePort();
      busy = await listenOn(low + 1).catch(() => undefined);
    }
    if (!busy) throw new Error('no two adjacent free ports below the ephemeral range');
    try {
      const choose = portChooser({ low, high: low + 1, start: low + 1 });
      // Start on the busy port: skipped; then the range wraps to its other port.
      expect(await choose()).toBe(low);
    } finally {
      await close(busy);
    }
  });
});
