/**
 * Subscription sessions: one per WebSocket, opened by `connection_init` with the access token
 * (`{ authorization: "Bearer ..." }`). None: closed with 4401; invalid or expired: 4403; when it
 * expires during the session, every subscription ends with UNAUTHENTICATED and the socket closes
 * with 4401 (reconnect with a fresh token and resume with `after`). Sessions also hold the limits
 * on what one client can keep open or ask for; each `connection_init` spends a point of the
 * client's request budget as an HTTP request does (refused: closed with 4429, RATE_LIMITED).
 */
import type { IncomingMessage } from 'node:http';
import type { GraphQLError } from 'graphql';
import type { WebSocket } from 'ws';
import { apiError, rateLimited } from '@paygraph/errors';
import { tokenExpiresAtMs, type TokenVerifier, type UserViewer, type Viewer } from '@paygraph/identity';
import type { LiveSubscription, QueuedBytes } from './live';

/** Bounds on what one client can hold open or ask for (settings; see README). */
export interface SubscriptionLimits {
  /** Live subscriptions on one WebSocket. */
  perConnectionMax: number;
  /** Live subscriptions of one user across every socket of this gateway. */
  perUserMax: number;
  /** Subscribe messages one socket may send per minute (each one may start a replay). */
  subscribesPerMinuteMax: number;
  /**
   * Bytes of resolved events waiting for one connection, across its subscriptions: past it the
   * client is not reading, and the connection is closed (4429) rather than hold them.
   */
  queuedBytesMax: number;
}
export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = { perConnectionMax: 20, perUserMax: 100, subscribesPerMinuteMax: 120, queuedBytesMax: 16 * 1024 * 1024 };

const SUBSCRIBE_WINDOW_MS = 60_000;
/** Time for the last messages (an event being resolved when the token expired, then the end) to go out before the close frame of an expired session. */
const EXPIRED_CLOSE_DELAY_MS = 500;

export interface Session {
  viewer: UserViewer;
  authorization: string;
  subscriptions: Set<LiveSubscription>;
  /** Subscriptions admitted by `overLimits` and still being set up (their payment's visibility checked). */
  pending: number;
  expiry?: NodeJS.Timeout;
  /** Subscribe messages in the current one-minute window. */
  subscribes: { windowStartMs: number; count: number };
  /** Bytes of resolved events waiting for this client (`queuedBytesMax`), and the counter they go through. */
  queued: QueuedBytes & { bytes: number };
}

/** What graphql-ws keeps per socket: the socket, its upgrade request and, once open, the session. */
export type Extra = {
  socket: WebSocket;
  request: IncomingMessage;
  session?: Session;
  /** Ids of this socket's subscribe messages still being set up (server.ts: an id is not reused meanwhile). */
  settingUp?: Set<string>;
};

/**
 * Spends one point of the per-client request budget (the user, else the address) for a new
 * connection; the gateway's rate limits (rate-limit/), absent when they are off.
 */
export type AdmitConnection = (viewer: Viewer | undefined, address: string | undefined) => Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }>;

/** graphql-ws's close code for too many requests; its client does not retry on it. */
export const RATE_LIMITED_CLOSE_CODE = 4429;

/**
 * The close reason of a refused connection: the GraphQL error an HTTP request gets, as JSON (at
 * most 123 bytes, the limit of a close frame's reason).
 */
export function rateLimitedCloseReason(retryAfterSeconds: number): string {
  const error = rateLimited(`Too many requests: try again in ${retryAfterSeconds} s.`, retryAfterSeconds);
  return JSON.stringify({ message: error.message, extensions: { code: error.extensions.code, retryAfterSeconds } });
}

/** WebSocket close code 1013 (Try Again Later): the token could not be checked now. */
export const UNAVAILABLE_CLOSE_CODE = 1013;
const unavailableCloseReason = JSON.stringify({ message: 'Token check unavailable: reconnect shortly.', extensions: { code: 'SERVICE_UNAVAILABLE' } });

/** The close reason of a connection that stopped reading (at most 123 bytes). */
export const SLOW_READER_CLOSE_REASON = JSON.stringify({ message: 'This client read too slowly: reconnect and resume with after.', extensions: { code: 'RATE_LIMITED' } });
/** A client that does not read does not answer the close frame either: the socket is destroyed after this. */
const SLOW_READER_TERMINATE_MS = 1_000;

const closeReason = { missing: 'Unauthorized: send connectionParams { authorization: "Bearer <accessToken>" }', invalid: 'Forbidden: invalid or expired access token', expired: 'Unauthorized: the access token expired' };

export function createSessions(options: { verifyToken: TokenVerifier; limits?: Partial<SubscriptionLimits> | undefined; admitConnection?: AdmitConnection | undefined }) {
  const limits: SubscriptionLimits = { ...DEFAULT_SUBSCRIPTION_LIMITS, ...options.limits };
  /** Live (and admitted, being set up) subscriptions per user on this gateway. */
  const perUser = new Map<string, number>();
  const forgetOne = (userId: string) => {
    const left = (perUser.get(userId) ?? 1) - 1;
    if (left > 0) perUser.set(userId, left);
    else perUser.delete(userId);
  };

  return {
    /**
     * `connection_init`: the session of a valid user token, or null once the socket is closed with
     * the reason. The session ends its subscriptions and closes the socket when the token expires.
     */
    async open(connectionParams: Record<string, unknown> | undefined, socket: WebSocket, address?: string): Promise<Session | null> {
      const params = connectionParams ?? {};
      const authorization = params.authorization ?? params.Authorization;
      const missing = typeof authorization !== 'string' || authorization.trim() === '';
      // As for HTTP: the token finds the user whose budget is spent; without a valid one, the address's.
      let unavailable = false;
      const viewer = missing
        ? undefined
        : await options.verifyToken(authorization).catch((error: unknown) => {
            // The token could not be checked (auth's keys unreachable): not a bad token.
            unavailable = (error as { extensions?: { code?: unknown } } | null)?.extensions?.code === 'SERVICE_UNAVAILABLE';
            return undefined;
          });
      if (options.admitConnection) {
        const admitted = await options.admitConnection(viewer, address);
        if (!admitted.allowed) {
          socket.close(RATE_LIMITED_CLOSE_CODE, rateLimitedCloseReason(admitted.retryAfterSeconds));
          return null;
        }
      }
      if (missing) {
        socket.close(4401, closeReason.missing);
        return null;
      }
      if (unavailable) {
        // 1013 Try Again Later: graphql-ws clients retry it (a 44xx close is final for them).
        socket.close(UNAVAILABLE_CLOSE_CODE, unavailableCloseReason);
        return null;
      }
      if (viewer?.kind !== 'user') {
        socket.close(4403, closeReason.invalid);
        return null;
      }
      const queued = {
        bytes: 0,
        add(bytes: number) {
          queued.bytes += bytes;
          if (queued.bytes <= limits.queuedBytesMax || socket.readyState !== socket.OPEN) return;
          // The client is not reading what it asked for: closing frees what waits for it (graphql-ws
          // ends every subscription of the socket, and their queues go); the client resumes with `after`.
          socket.close(RATE_LIMITED_CLOSE_CODE, SLOW_READER_CLOSE_REASON);
          setTimeout(() => socket.terminate(), SLOW_READER_TERMINATE_MS).unref();
        },
        remove(bytes: number) {
          queued.bytes -= bytes;
        },
      };
      const session: Session = { viewer, authorization, subscriptions: new Set(), pending: 0, subscribes: { windowStartMs: Date.now(), count: 0 }, queued };
      const expiresAt = tokenExpiresAtMs(authorization);
      if (expiresAt !== null) {
        session.expiry = setTimeout(() => {
          for (const live of [...session.subscriptions]) live.endNow({ kind: 'end', error: apiError('UNAUTHENTICATED', 'The access token expired: reconnect with a fresh one and resume with `after`.') });
          setTimeout(() => socket.close(4401, closeReason.expired), EXPIRED_CLOSE_DELAY_MS).unref();
        }, Math.max(0, expiresAt - Date.now()));
        session.expiry.unref();
      }
      return session;
    },

    /**
     * Counts a subscribe message; the first limit a new subscription would break, as the error that
     * refuses it. Admitted (null), the subscription holds its place at once, before its set-up awaits
     * anything: subscribes sent together cannot all pass the check before any is counted (40 at once
     * on one socket all ran with a cap of 20). Follow with `added` or `released`.
     */
    overLimits(session: Session): GraphQLError | null {
      const now = Date.now();
      if (now - session.subscribes.windowStartMs >= SUBSCRIBE_WINDOW_MS) session.subscribes = { windowStartMs: now, count: 0 };
      session.subscribes.count += 1;
      const retryAfterSeconds = Math.max(1, Math.ceil((session.subscribes.windowStartMs + SUBSCRIBE_WINDOW_MS - now) / 1000));
      if (session.subscribes.count > limits.subscribesPerMinuteMax) {
        return rateLimited(`At most ${limits.subscribesPerMinuteMax} subscribe messages per minute on one connection (SUBSCRIBES_PER_MINUTE_MAX).`, retryAfterSeconds);
      }
      if (session.subscriptions.size + session.pending >= limits.perConnectionMax) {
        return rateLimited(`At most ${limits.perConnectionMax} subscriptions per connection (SUBSCRIPTIONS_PER_CONNECTION_MAX); complete one first.`, 1);
      }
      if ((perUser.get(session.viewer.userId) ?? 0) >= limits.perUserMax) {
        return rateLimited(`At most ${limits.perUserMax} subscriptions per user (SUBSCRIPTIONS_PER_USER_MAX); complete one first.`, 1);
      }
      session.pending += 1;
      perUser.set(session.viewer.userId, (perUser.get(session.viewer.userId) ?? 0) + 1);
      return null;
    },

    /** An admitted subscription is live: its place, held since `overLimits`, is its own. */
    added(session: Session, live: LiveSubscription) {
      session.pending -= 1;
      session.subscriptions.add(live);
    },

    /** An admitted subscription was refused while being set up: its place is given back. */
    released(session: Session) {
      session.pending -= 1;
      forgetOne(session.viewer.userId);
    },

    /** The subscription ended (called once per subscription). */
    removed(session: Session, live: LiveSubscription) {
      session.subscriptions.delete(live);
      forgetOne(session.viewer.userId);
    },

    /** The socket closed: its subscriptions end. */
    close(session: Session) {
      clearTimeout(session.expiry);
      for (const live of [...session.subscriptions]) live.finish(null);
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
