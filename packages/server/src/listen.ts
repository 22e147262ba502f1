import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  server: Server;
  port: number;
  /** Stops accepting, ends idle keep-alive connections, waits for in-flight requests. */
  close(): Promise<void>;
}

/** How often a closing server ends connections that went idle since it closed. */
const CLOSE_SWEEP_MS = 50;
/** How long in-flight requests get to finish before their connections are cut. */
const CLOSE_GRACE_MS = 5_000;

export async function listen(handler: RequestListener, port: number, host: string): Promise<Listening> {
  const server = createServer(handler);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // close() ends the connections idle now; a keep-alive connection busy with a request
        // stays open after its response (Node does not end it), so it is swept as soon as it is
        // idle, and anything still open after CLOSE_GRACE_MS is cut.
        const sweep = setInterval(() => server.closeIdleConnections(), CLOSE_SWEEP_MS).unref();
        const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
        server.close((error) => {
          clearInterval(sweep);
          clearTimeout(cut);
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
