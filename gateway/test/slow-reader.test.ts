// A client that stops reading: the resolved events waiting for it are counted in bytes across its
// connection's subscriptions, and past SUBSCRIPTION_QUEUED_BYTES_MAX the connection is closed (4429,
// RATE_LIMITED) instead of holding them (a probe held 484 MiB for one socket of 20 subscriptions,
// each allowed 1,000 pending events). A client that reads is never closed, and what it read, or
// what a completed subscription dropped, leaves the count.
import { expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { createInProcessTransport } from '@paygraph/events';
import { createLogger } from '@paygraph/logging';
import { startPaymentEventHub, type PaymentEventHub } from '../src/subscriptions/hub';
import { LiveSubscription } from '../src/subscriptions/live';
import { statusEvent } from './support/status-event';
import { createSessions, RATE_LIMITED_CLOSE_CODE, SLOW_READER_CLOSE_REASON, type Session } from '../src/subscriptions/session';

const logger = createLogger({ level: 'silent', name: 'test' });
const EVENT_BYTES = 300;

async function setUp(queuedBytesMax: number) {
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger);
  const closes: { code: number; reason: string }[] = [];
  let terminated = false;
  const socket = {
    OPEN: 1,
    readyState: 1,
    close(code: number, reason: string) {
      closes.push({ code, reason });
      socket.readyState = 2;
    },
    terminate: () => (terminated = true),
  };
  const sessions = createSessions({ verifyToken: async () => ({ kind: 'user', id: 'usr_b', userId: 'usr_b', role: 'BUYER', scopes: [] }) as never, limits: { queuedBytesMax } });
  const session = (await sessions.open({ authorization: 'Bearer some.token.here' }, socket as unknown as WebSocket))!;
  let sequence = 0;
  return {
    hub,
    session,
    closes,
    terminated: () => terminated,
    publish: async (count: number) => {
      for (let index = 0; index < count; index += 1) await transport.publish([statusEvent((sequence += 1))]);
      await new Promise((resolve) => setTimeout(resolve, 10)); // the resolutions settle
    },
  };
}

const follow = (hub: PaymentEventHub, session: Session) =>
  new LiveSubscription({
    hub,
    paymentId: 'pay_1',
    after: null,
    userId: null,
    resolve: async (change) => ({ change, payments: {}, errors: [], bytes: EVENT_BYTES }),
    readLog: async () => [],
    onEnd: () => {},
    queuedBytes: session.queued,
  });

it('closes a connection whose subscriptions hold more than SUBSCRIPTION_QUEUED_BYTES_MAX for a client that does not read', async () => {
  const { hub, session, closes, terminated, publish } = await setUp(10 * EVENT_BYTES);
  const first = follow(hub, session);
  const second = follow(hub, session);
  // 5 events to each subscription: 3,000 bytes wait, at the limit.
  await publish(5);
  expect(session.queued.bytes).toBe(10 * EVENT_BYTES);
  expect(closes).toEqual([]);
  // One more: over it, counted across both subscriptions (each alone holds 1,800).
  await publish(1);
  expect(closes).toEqual([{ code: RATE_LIMITED_CLOSE_CODE, reason: SLOW_READER_CLOSE_REASON }]);
  expect(JSON.parse(closes[0]!.reason)).toMatchObject({ extensions: { code: 'RATE_LIMITED' } });
  expect(Buffer.byteLength(SLOW_READER_CLOSE_REASON)).toBeLessThanOrEqual(123);
  // A client that does not read does not answer the close either: the socket is destroyed.
  await expect.poll(terminated, { timeout: 3_000 }).toBe(true);
  // graphql-ws then ends both subscriptions: their queues go, and their bytes with them.
  await first.return();
  await second.return();
  expect(session.queued.bytes).toBe(0);
});

it('never closes a client that reads, however many events pass, and counts nothing it has read', async () => {
  const { hub, session, closes, publish } = await setUp(10 * EVENT_BYTES);
  const live = follow(hub, session);
  for (let round = 0; round < 20; round += 1) {
    await publish(5);
    for (let index = 0; index < 5; index += 1) expect((await live.next()).done).toBe(false);
    expect(session.queued.bytes).toBe(0);
  }
  expect(closes).toEqual([]);
  await live.return();
});

it('gives back the bytes of a subscription completed with events still waiting', async () => {
  const { hub, session, closes, publish } = await setUp(10 * EVENT_BYTES);
  const completed = follow(hub, session);
  const other = follow(hub, session);
  await publish(4);
  expect(session.queued.bytes).toBe(8 * EVENT_BYTES);
  await completed.return();
  expect(session.queued.bytes).toBe(4 * EVENT_BYTES);
  // The room it gave back is there for the other subscription.
  await publish(5);
  expect(session.queued.bytes).toBe(9 * EVENT_BYTES);
  expect(closes).toEqual([]);
  await other.return();
  expect(session.queued.bytes).toBe(0);
});
