/**
 * graphql-ws on a `ws` server: graphql-ws's own `useServer` adapter, with two changes. A message
 * the protocol does not allow from a client (`next`, `error`, `connection_ack` sent by it) closes
 * the socket with 4400, as any other bad message does, instead of 4500 "Internal server error"; and
 * what goes wrong is logged as one JSON line through the gateway's logger, where `useServer` wrote a
 * multi-line stack trace with console.error for every such message and every oversized frame (any
 * client could flood the log; found by the subscriptions probe). Keep-alive pings are as in
 * `useServer` (every 12 s; a socket that does not answer within the next 12 s is terminated).
 */
import type { IncomingMessage } from 'node:http';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '@paygraph/logging';

const KEEP_ALIVE_MS = 12_000;
/** graphql-ws's refusal of a message type the server never accepts from a client. */
const UNEXPECTED_MESSAGE = /^Unexpected message of type \w+ received$/;
/** Close reasons are at most 123 bytes. */
const closeReason = (reason: string) => (Buffer.byteLength(reason) > 123 ? reason.slice(0, 100) : reason);

export function serveGraphqlWs<P extends Record<string, unknown>, E extends { socket: WebSocket; request: IncomingMessage }>(
  options: ServerOptions<P, E>,
  sockets: WebSocketServer,
  logger: Logger,
): { dispose(): Promise<void> } {
  const server = makeServer<P, E>(options);
  sockets.options.handleProtocols = handleProtocols;
  sockets.on('error', (error) => logger.error({ err: error }, 'the WebSocket server failed'));
  sockets.on('connection', (socket, request) => {
    // ws closes the socket itself on a frame it refuses (1009 too large, 1007 not UTF-8, 1002) and then reports it here.
    socket.on('error', (error) => logger.warn({ reason: error.message }, 'a WebSocket client sent a frame the server refuses; the socket is closed'));
    let pongWait: NodeJS.Timeout | null = null;
    const pingInterval = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      pongWait = setTimeout(() => socket.terminate(), KEEP_ALIVE_MS);
      socket.once('pong', () => {
        if (pongWait) clearTimeout(pongWait);
        pongWait = null;
      });
      socket.ping();
    }, KEEP_ALIVE_MS);
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', async (data) => {
            try {
              await handle(String(data));
            } catch (error) {
              const message = error instanceof Error ? error.message : String(error);
              if (UNEXPECTED_MESSAGE.test(message)) {
                socket.close(CloseCode.BadRequest, closeReason(message));
                return;
              }
              logger.error({ err: error }, 'a WebSocket message could not be handled');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            }
          }),
      },
      { socket, request } as E,
    );
    socket.once('close', (code, reason) => {
      if (pongWait) clearTimeout(pongWait);
      clearInterval(pingInterval);
      void closed(code, String(reason));
    });
  });
  return {
    async dispose() {
      for (const client of sockets.clients) client.close(1001, 'Going away');
      sockets.removeAllListeners();
      await new Promise<void>((resolve, reject) => sockets.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
