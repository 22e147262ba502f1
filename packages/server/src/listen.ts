import { createServer, STATUS_CODES, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

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

/**
 * A request Node's HTTP parser refused before any handler saw it (headers past Node's 16 KiB, a
 * malformed request line, a request that took too long to arrive): answered as Node would (431,
 * 408 or 400) but with a GraphQL error body and a code, as every other refusal is, instead of an
 * empty body.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  // As Node's own answer does: never write into a response already under way on this socket
  // (a keep-alive connection whose next request failed to parse), which would corrupt it.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message = status === 431 ? 'The request headers are too large.' : status === 408 ? 'The request took too long to arrive.' : 'The request is not valid HTTP.';
  const body = JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export async function listen(handler: RequestListener, port: number, host: string): Promise<Listening> {
  const server = createServer(handler);
  server.keepAliveTimeout = 65_000;
  server.on('clientError', answerClientError);
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
