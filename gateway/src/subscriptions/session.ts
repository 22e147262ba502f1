/**
 * Subscription sessions: one per WebSocket, opened by `connection_init` with the access token
 * (`{ authorization: "Bearer ..." }`). None: closed with 4401; invalid or expired: 4403; when it
 * expires during the session, every subscription ends with UNAUTHENTICATED and the socket closes
 * with 4401 (reconnect with a fresh token and resume with `after`). Sessions also hold the limits
 * on what one client can keep open or ask for.
 */
import type { IncomingMessage } from 'node:http';
import type { GraphQLError } from 'graphql';
import type { WebSocket } from 'ws';
import { apiError, rateLimited } from '@paygraph/errors';
import { tokenExpiresAtMs, type TokenVerifier, type UserViewer } from '@paygraph/identity';
import type { LiveSubscription } from './live';

/** Bounds on what one client can hold open or ask for (settings; see README). */
export interface SubscriptionLimits {
  /** Live subscriptions on one WebSocket. */
  perConnectionMax: number;
  /** Live subscriptions of one user across every socket of this gateway. */
  perUserMax: number;
  /** Subscribe messages one socket may send per minute (each one may start a replay). */
  subscribesPerMinuteMax: number;
}
export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = { perConnectionMax: 20, perUserMax: 100, subscribesPerMinuteMax: 120 };

const SUBSCRIBE_WINDOW_MS = 60_000;
/** Time for the last messages to go out before the close frame of an expired session. */
const EXPIRED_CLOSE_DELAY_MS = 50;

export interface Session {
  viewer: UserViewer;
  authorization: string;
  subscriptions: Set<LiveSubscription>;
  expiry?: NodeJS.Timeout;
  /** Subscribe messages in the current one-minute window. */
  subscribes: { windowStartMs: number; count: number };
}

/** What graphql-ws keeps per socket: the socket, its upgrade request and, once open, the session. */
export type Extra = { socket: WebSocket; request: IncomingMessage; session?: Session };

const closeReason = { missing: 'Unauthorized: send connectionParams { authorization: "Bearer <accessToken>" }', invalid: 'Forbidden: invalid or expired access token', expired: 'Unauthorized: the access token expired' };

export function createSessions(options: { verifyToken: TokenVerifier; limits?: Partial<SubscriptionLimits> | undefined }) {
  const limits: SubscriptionLimits = { ...DEFAULT_SUBSCRIPTION_LIMITS, ...options.limits };
  /** Live subscriptions per user on this gateway. */
  const perUser = new Map<string, number>();

  return {
    /**
     * `connection_init`: the session of a valid user token, or null once the socket is closed with
     * the reason. The session ends its subscriptions and closes the socket when the token expires.
     */
    async open(connectionParams: Record<string, unknown> | undefined, socket: WebSocket): Promise<Session | null> {
      const params = connectionParams ?? {};
      const authorization = params.authorization ?? params.Authorization;
      if (typeof authorization !== 'string' || authorization.trim() === '') {
        socket.close(4401, closeReason.missing);
        return null;
      }
      let viewer;
      try {
        viewer = await options.verifyToken(authorization);
      } catch {
        socket.close(4403, closeReason.invalid);
        return null;
      }
      if (viewer.kind !== 'user') {
        socket.close(4403, closeReason.invalid);
        return null;
      }
      const session: Session = { viewer, authorization, subscriptions: new Set(), subscribes: { windowStartMs: Date.now(), count: 0 } };
      const expiresAt = tokenExpiresAtMs(authorization);
      if (expiresAt !== null) {
        session.expiry = setTimeout(() => {
          for (const live of [...session.subscriptions]) live.finish({ kind: 'end', error: apiError('UNAUTHENTICATED', 'The access token expired: reconnect with a fresh one and resume with `after`.') });
          setTimeout(() => socket.close(4401, closeReason.expired), EXPIRED_CLOSE_DELAY_MS).unref();
        }, Math.max(0, expiresAt - Date.now()));
        session.expiry.unref();
      }
      return session;
    },

    /** Counts a subscribe message; the first limit a new subscription would break, as the error that refuses it. */
    overLimits(session: Session): GraphQLError | null {
      const now = Date.now();
      if (now - session.subscribes.windowStartMs >= SUBSCRIBE_WINDOW_MS) session.subscribes = { windowStartMs: now, count: 0 };
      session.subscribes.count += 1;
      const retryAfterSeconds = Math.max(1, Math.ceil((session.subscribes.windowStartMs + SUBSCRIBE_WINDOW_MS - now) / 1000));
      if (session.subscribes.count > limits.subscribesPerMinuteMax) {
        return rateLimited(`At most ${limits.subscribesPerMinuteMax} subscribe messages per minute on one connection (SUBSCRIBES_PER_MINUTE_MAX).`, retryAfterSeconds);
      }
      if (session.subscriptions.size >= limits.perConnectionMax) {
        return rateLimited(`At most ${limits.perConnectionMax} subscriptions per connection (SUBSCRIPTIONS_PER_CONNECTION_MAX); complete one first.`, 1);
      }
      if ((perUser.get(session.viewer.userId) ?? 0) >= limits.perUserMax) {
        return rateLimited(`At most ${limits.perUserMax} subscriptions per user (SUBSCRIPTIONS_PER_USER_MAX); complete one first.`, 1);
      }
      return null;
    },

    /** Counts a live subscription against its session and user. */
    added(session: Session, live: LiveSubscription) {
      session.subscriptions.add(live);
      perUser.set(session.viewer.userId, (perUser.get(session.viewer.userId) ?? 0) + 1);
    },

    /** The subscription ended (called once per subscription). */
    removed(session: Session, live: LiveSubscription) {
      session.subscriptions.delete(live);
      const left = (perUser.get(session.viewer.userId) ?? 1) - 1;
      if (left > 0) perUser.set(session.viewer.userId, left);
      else perUser.delete(session.viewer.userId);
    },

    /** The socket closed: its subscriptions end. */
    close(session: Session) {
      clearTimeout(session.expiry);
      for (const live of [...session.subscriptions]) live.finish(null);
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
