/**
 * A graphql-ws client for the tests, as a dashboard uses it: one socket per client, the access
 * token in connectionParams, results collected in order with a way to wait for the next ones.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface Received {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: Record<string, any> }[];
  receivedAt: number;
}

export interface TestSubscription {
  results: Received[];
  /** Set when the server refused or ended the subscription with an error message / closed. */
  failure: Promise<unknown>;
  completed: Promise<void>;
  /** Resolves with the first `count` results (rejects after `timeoutMs`). */
  take(count: number, timeoutMs?: number): Promise<Received[]>;
  dispose(): Promise<void>;
}

export const wsUrl = (gatewayUrl: string) => gatewayUrl.replace(/^http/, 'ws');

export function wsClient(gatewayUrl: string, token: string | null, onClosed?: (event: { code: number; reason: string }) => void): Client {
  return createClient({
    url: wsUrl(gatewayUrl),
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
    // Keep the socket after the last subscription completes, so the server's close code is seen.
    lazyCloseTimeout: 5_000,
    on: { closed: (event) => onClosed?.(event as { code: number; reason: string }) },
  });
}

export function subscribe(client: Client, query: string, variables: Record<string, unknown> = {}): TestSubscription {
  const results: Received[] = [];
  const waiters = new Set<() => void>();
  let fail!: (error: unknown) => void;
  let complete!: () => void;
  const failure = new Promise<unknown>((resolve) => (fail = resolve));
  const completed = new Promise<void>((resolve) => (complete = resolve));
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (value) => {
        results.push({ ...(value as Omit<Received, 'receivedAt'>), receivedAt: Date.now() });
        for (const wake of waiters) wake();
      },
      error: (error) => {
        fail(error);
        for (const wake of waiters) wake();
      },
      complete: () => {
        complete();
        for (const wake of waiters) wake();
      },
    },
  );
  return {
    results,
    failure,
    completed,
    take: (count, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (results.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(results.slice(0, count));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${count} results within ${timeoutMs} ms, got ${results.length}: ${JSON.stringify(results)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    dispose: async () => unsubscribe(),
  };
}

export type EndErrors = { message: string; extensions?: { code?: string; retryAfterSeconds?: number } }[];

/**
 * How a subscription ended: refused at subscribe (an error message), or ended by the server with
 * a last result carrying errors and then completed. Null when it did not end within the time.
 */
export async function endOf(subscription: TestSubscription, timeoutMs = 10_000): Promise<EndErrors | null> {
  const ended = Promise.race([
    subscription.failure.then((errors) => errors as EndErrors),
    subscription.completed.then(() => (subscription.results.find((result) => result.errors)?.errors ?? []) as EndErrors),
  ]);
  return Promise.race([ended, new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs))]);
}

/**
 * The first result that matches. A subscription without `after` follows live changes from about
 * the time it subscribed: a change committed just before may still arrive (the relay positions it
 * after), so a test waiting for one change of a payment that had others looks for it by content.
 */
export async function firstWhere(subscription: TestSubscription, predicate: (result: Received) => boolean, timeoutMs = 5_000): Promise<Received> {
  for (let count = 1; ; count += 1) {
    const results = await subscription.take(count, timeoutMs);
    const found = results.find(predicate);
    if (found) return found;
  }
}

/**
 * Subscriptions a gateway counts as live (registered with its event hub), from its `/metrics`: a
 * test waits for it to rise before it publishes what a new subscription must see.
 */
export async function liveSubscriptionsAt(gatewayUrl: string): Promise<number> {
  const text = await (await fetch(gatewayUrl.replace(/\/graphql$/, '/metrics'))).text();
  return Number(/^graphql_subscriptions_active (\d+)$/m.exec(text)?.[1] ?? NaN);
}
