/**
 * What the notifications integration tests share: the platform started in-process with the
 * notifications service on a database of its own when DATABASE_URL is set (so no other test
 * file's notifications service, which reads the same event log, claims this file's deliveries
 * or sends them with other settings), a handle on that database, and the payment steps.
 */
import { randomBytes } from 'node:crypto';
import { vi } from 'vitest';
import { openServiceDatabase, resolveDatabaseTarget, type ServiceDatabase } from '@paygraph/db';
import { createOwnDatabase } from '@paygraph/db/testing';
import { errorCode, gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { schema } from '../src/db/schema';
import { migrationsFolder } from '../src/server';

export interface NotificationsTestPlatform {
  platform: Platform;
  gatewayUrl: string;
  /** The notifications service's own database (for what the API does not show, e.g. attempt errors). */
  database: ServiceDatabase<typeof schema>;
  stop(): Promise<void>;
}

/**
 * With DATABASE_URL: a PostgreSQL database of this test file's own on that server, dropped by
 * `drop`. Without: null (the embedded database in memory is the file's own already).
 */
export async function isolatedDatabase(label: string): Promise<{ url: string | null; drop(): Promise<void> }> {
  const serverUrl = process.env.DATABASE_URL;
  return serverUrl ? createOwnDatabase(serverUrl, label) : { url: null, drop: async () => {} };
}

/**
 * A notifications database of the test file's own, migrated (PGlite in memory, or a database of
 * its own on the DATABASE_URL server), with the statements it is sent counted.
 */
export async function ownNotificationsDatabase(label: string): Promise<{ database: ServiceDatabase<typeof schema>; statements(): number; close(): Promise<void> }> {
  const own = await isolatedDatabase(label);
  const queryCounts = new Map<string, number>();
  let database: ServiceDatabase<typeof schema>;
  try {
    database = await openServiceDatabase({
      service: 'notifications',
      target: own.url ? { kind: 'postgres', url: own.url, poolMax: 10, queryCounts } : { kind: 'pglite', dataDir: `memory://${label}`, queryCounts },
      schema,
      migrationsFolder,
    });
  } catch (error) {
    await own.drop();
    throw error;
  }
  return {
    database,
    statements: () => queryCounts.get('notifications') ?? 0,
    async close() {
      await database.close();
      await own.drop();
    },
  };
}

export async function startNotificationsPlatform(env: Record<string, string> = {}): Promise<NotificationsTestPlatform> {
  const own = await isolatedDatabase('notifications');
  const extra: Record<string, string> = own.url ? { NOTIFICATIONS_DATABASE_URL: own.url } : {};
  let platform: Platform;
  try {
    platform = await startTestPlatform({ env: { ...extra, ...env } });
  } catch (error) {
    await own.drop();
    throw error;
  }
  // The platform's own embedded database (same process, same `memory://`) or the file's server database.
  const database = await openServiceDatabase({ service: 'notifications', target: resolveDatabaseTarget('notifications', { ...process.env, ...extra }, 'memory://'), schema, migrationsFolder });
  return {
    platform,
    gatewayUrl: platform.gatewayUrl!,
    database,
    async stop() {
      await database.close();
      await platform.stop();
      await own.drop();
    },
  };
}

export const key = () => `k-${randomBytes(6).toString('hex')}`;
export const usd = (amount: string) => ({ amount, currency: 'USD' });

export interface NotificationView {
  id: string;
  channel: 'EMAIL' | 'SMS' | 'PUSH' | 'IN_APP';
  type: string;
  title: string;
  body: string;
  status: 'PENDING' | 'SENT' | 'FAILED';
  deliveryAttempts: number;
  createdAt: string;
  readAt: string | null;
}

export const NOTIFICATION_FIELDS = 'id channel type title body status deliveryAttempts createdAt readAt';
export const NOTIFICATIONS = `query Notifications($first: Int, $after: String, $unreadOnly: Boolean) {
  notifications(first: $first, after: $after, unreadOnly: $unreadOnly) { edges { cursor node { ${NOTIFICATION_FIELDS} } } pageInfo { hasNextPage endCursor } }
}`;

/** The viewer's newest notifications (up to 100). */
export async function notificationsOf(gatewayUrl: string, user: TestUser, variables: { unreadOnly?: boolean } = {}): Promise<NotificationView[]> {
  const result = await gql(gatewayUrl, NOTIFICATIONS, { first: 100, ...variables }, user.accessToken);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data!.notifications.edges.map((edge: { node: NotificationView }) => edge.node);
}

/** Waits until `pick` finds what it looks for in the user's notifications (events are asynchronous). */
export async function waitForNotifications(gatewayUrl: string, user: TestUser, pick: (all: NotificationView[]) => NotificationView[], count = 1): Promise<NotificationView[]> {
  return vi.waitFor(
    async () => {
      const found = pick(await notificationsOf(gatewayUrl, user));
      if (found.length < count) throw new Error(`expected ${count} notifications, found ${found.length}`);
      return found;
    },
    { timeout: 15_000, interval: 50 },
  );
}

export const register = (gatewayUrl: string, role: 'BUYER' | 'MERCHANT' | 'ADMIN' = 'BUYER', name?: string) =>
  registerAndLogin({ register: gatewayUrl, login: gatewayUrl }, role, name ? { name } : {});

export async function topUp(gatewayUrl: string, user: TestUser, amount: string): Promise<void> {
  const result = await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd(amount), idempotencyKey: key() } }, user.accessToken);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
}

/** The buyer orders from the merchant and pays; resolves with the payment as payOrder returned it. */
export async function pay(gatewayUrl: string, buyer: TestUser, merchant: TestUser, amount: string, captureMethod: 'AUTOMATIC' | 'MANUAL' = 'AUTOMATIC'): Promise<{ id: string; status: string; failureCode: string | null }> {
  const order = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd(amount), description: 'Coffee beans' } }, buyer.accessToken);
  if (order.errors) throw new Error(JSON.stringify(order.errors));
  const paid = await gql(
    gatewayUrl,
    `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status failureCode } }`,
    { input: { orderId: order.data!.createOrder.id, idempotencyKey: key(), captureMethod } },
    buyer.accessToken,
  );
  if (paid.errors) throw new Error(JSON.stringify(paid.errors));
  return paid.data!.payOrder;
}

export { errorCode, gql };
