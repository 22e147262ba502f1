// A live subscription over the real hub and in-process transport: the replay of missed changes and
// live ones meet with no gap and no duplicate, whatever arrives during the replay; deliveries keep
// log order although they resolve out of order; a change that cannot be resolved ends the stream
// instead of leaving a silent gap.
import { expect, it } from 'vitest';
import { createInProcessTransport } from '@paygraph/events';
import { createLogger } from '@paygraph/logging';
import { startPaymentEventHub, type PaymentEventHub, type PaymentStatusChange } from '../src/subscriptions/hub';
import { HELD_MAX, LiveSubscription, type LiveItem } from '../src/subscriptions/live';
import { statusEvent } from './support/status-event';

const logger = createLogger({ level: 'silent', name: 'test' });

const event = statusEvent;

const change = (sequence: number): PaymentStatusChange => ({
  sequence: BigInt(sequence),
  paymentId: 'pay_1',
  buyerId: 'usr_b',
  merchantId: 'usr_m',
  status: 'SUCCEEDED',
  previousStatus: 'PENDING',
  occurredAt: new Date(0).toISOString(),
});
const sequences = (items: LiveItem[]) => items.map((item) => (item.kind === 'delivery' ? Number(item.delivery.change.sequence) : 'end'));

/** Follows every payment from after 0: each change resolves to itself; the log is `readLog`. */
const replayingEverything = (hub: PaymentEventHub, readLog: (after: bigint, limit: number) => Promise<PaymentStatusChange[]>) =>
  new LiveSubscription({
    hub,
    paymentId: null,
    after: 0n,
    userId: null,
    resolve: async (resolved) => ({
      change: resolved,
      payments: {},
      errors: [],
      bytes: 0,
    }),
    readLog: (after, _filter, limit) => readLog(after, limit),
    onEnd: () => {},
  });

async function take(live: LiveSubscription, count: number): Promise<LiveItem[]> {
  const items: LiveItem[] = [];
  while (items.length < count) {
    const step = await live.next();
    if (step.done) break;
    items.push(step.value);
  }
  return items;
}

it('replays what was missed, holds live changes meanwhile, and joins them with no gap or duplicate', async () => {
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger);
  let releaseReplay!: () => void;
  const replayGate = new Promise<void>((resolve) => (releaseReplay = resolve));
  const live = new LiveSubscription({
    hub,
    paymentId: 'pay_1',
    after: 2n,
    userId: null,
    resolve: async (resolved) => ({
      change: resolved,
      payments: {},
      errors: [],
      bytes: 0,
    }),
    // The log holds 3..5; 5 and 6 are also published live while the replay is in flight.
    readLog: async (after) => {
      await replayGate;
      return [3, 4, 5].map(change).filter((entry) => entry.sequence > after);
    },
    onEnd: () => {},
  });
  await transport.publish([event(5), event(6)]);
  releaseReplay();
  await transport.publish([event(7)]);
  expect(sequences(await take(live, 5))).toEqual([3, 4, 5, 6, 7]);
  await live.return();
  expect(hub.listeners).toBe(0);
});

it('delivers in log order although later changes resolve first', async () => {
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger);
  const live = new LiveSubscription({
    hub,
    paymentId: null,
    after: null,
    userId: null,
    resolve: async (resolved) => {
      await new Promise((resolve) => setTimeout(resolve, resolved.sequence === 1n ? 30 : 1));
      return { change: resolved, payments: {}, errors: [], bytes: 0 };
    },
    readLog: async () => [],
    onEnd: () => {},
  });
  await transport.publish([event(1), event(2), event(3)]);
  expect(sequences(await take(live, 3))).toEqual([1, 2, 3]);
  await live.return();
});

it('ends the stream when a change cannot be resolved, delivering nothing after it', async () => {
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger);
  let ended = 0;
  const live = new LiveSubscription({
    hub,
    paymentId: 'pay_1',
    after: null,
    userId: null,
    resolve: async (resolved) => {
      if (resolved.sequence === 2n) throw new Error('payments is down');
      return { change: resolved, payments: {}, errors: [], bytes: 0 };
    },
    readLog: async () => [],
    onEnd: () => void (ended += 1),
  });
  await transport.publish([event(1), event(2), event(3)]);
  const items = await take(live, 3);
  expect(sequences(items)).toEqual([1, 'end']);
  const end = items[1]!;
  // Retryable: the client resumes with `after` once the subgraph is back.
  expect(end.kind === 'end' && end.error.extensions.code).toBe('SERVICE_UNAVAILABLE');
  expect((await live.next()).done).toBe(true);
  expect(ended).toBeGreaterThan(0);
  expect(hub.listeners).toBe(0);
});

it("resolves only the subscriber's own payments, live and replayed, when it follows every payment", async () => {
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger);
  const resolved: number[] = [];
  const someoneElses = (sequence: number): PaymentStatusChange => ({
    ...change(sequence),
    buyerId: 'usr_other',
    merchantId: 'usr_shop',
  });
  const live = new LiveSubscription({
    hub,
    paymentId: null,
    after: 0n,
    userId: 'usr_b',
    resolve: async (accepted) => {
      resolved.push(Number(accepted.sequence));
      return { change: accepted, payments: {}, errors: [], bytes: 0 };
    },
    readLog: async (after) => [change(1), someoneElses(2), change(3)].filter((entry) => entry.sequence > after),
    onEnd: () => {},
  });
  const other = {
    ...event(5),
    payload: {
      ...(event(5).payload as object),
      buyerId: 'usr_other',
      merchantId: 'usr_shop',
    },
  };
  await new Promise((resolve) => setTimeout(resolve, 10));
  await transport.publish([event(4), other, event(6)]);
  expect(sequences(await take(live, 4))).toEqual([1, 3, 4, 6]);
  expect(resolved).toEqual([1, 3, 4, 6]);
  await live.return();
});

it('ends with SERVICE_UNAVAILABLE when the hub lost events it could not read back, and when the replay cannot be read', async () => {
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger, {
    readLog: async () => {
      throw new Error('payments is down');
    },
  });
  const options = {
    hub,
    paymentId: null,
    userId: null,
    resolve: async (resolved: PaymentStatusChange) => ({
      change: resolved,
      payments: {},
      errors: [],
      bytes: 0,
    }),
    onEnd: () => {},
  };
  const live = new LiveSubscription({
    ...options,
    after: null,
    readLog: async () => [],
  });
  await transport.publish([event(1)]);
  await transport.publish([event(4)]);
  const items = await take(live, 2);
  expect(sequences(items)).toEqual([1, 'end']);
  expect(items[1]!.kind === 'end' && items[1]!.error.extensions.code).toBe('SERVICE_UNAVAILABLE');

  const replaying = new LiveSubscription({
    ...options,
    after: 0n,
    readLog: async () => Promise.reject(new Error('payments is down')),
  });
  const [ended] = await take(replaying, 1);
  expect(ended!.kind === 'end' && ended!.error.extensions.code).toBe('SERVICE_UNAVAILABLE');
});

it('replays more changes than a client may have pending, page by page as the client reads, without ending it', async () => {
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger);
  // 2,600 missed changes: more than PENDING_MAX (1,000) waiting at once if the replay did not wait.
  const total = 2_600;
  let pagesRead = 0;
  const live = replayingEverything(hub, async (after, limit) => {
    pagesRead += 1;
    const from = Number(after) + 1;
    return Array.from({ length: Math.max(0, Math.min(limit, total - from + 1)) }, (_, index) => change(from + index));
  });
  const items: LiveItem[] = [];
  // A client that reads slowly: the replay must wait for it, not end it.
  while (items.length < total) {
    const step = await live.next();
    if (step.done) break;
    items.push(step.value);
    if (items.length % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  expect(items.filter((item) => item.kind === 'end')).toEqual([]);
  expect(sequences(items)).toEqual(Array.from({ length: total }, (_, index) => index + 1));
  expect(pagesRead).toBeGreaterThanOrEqual(Math.ceil(total / 500));
  await live.return();
  expect(hub.listeners).toBe(0);
});

it('joins the live changes held during a long replay a page at a time, without ending a client that reads', async () => {
  // The fault suite's case: a subscriber resuming after an outage replays 900 changes while 300
  // arrive live. The last page leaves 900 pending; the 300 held ones must wait for room, not end
  // the subscription RATE_LIMITED.
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger);
  const replayed = 900;
  const arriving = 300;
  let pagesRead = 0;
  const live = replayingEverything(hub, async (after, limit) => {
    pagesRead += 1;
    // While the second page is read, the live changes after the replayed ones arrive.
    if (pagesRead === 2) await transport.publish(Array.from({ length: arriving }, (_, index) => event(replayed + 1 + index)));
    const from = Number(after) + 1;
    return Array.from({ length: Math.max(0, Math.min(limit, replayed - from + 1)) }, (_, index) => change(from + index));
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const items = await take(live, replayed + arriving);
  expect(items.filter((item) => item.kind === 'end')).toEqual([]);
  expect(sequences(items)).toEqual(Array.from({ length: replayed + arriving }, (_, index) => index + 1));
  await live.return();
  expect(hub.listeners).toBe(0);
});

it('drops held changes past HELD_MAX and reads them from the log, with no gap or duplicate', async () => {
  // A client that has not read yet while 2,500 changes arrive live during its replay: held changes
  // stay bounded, the dropped ones come from the log (where every published change already is).
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger);
  const logged: PaymentStatusChange[] = [1, 2, 3].map(change);
  const publish = async (from: number, count: number) => {
    const numbers = Array.from({ length: count }, (_, index) => from + index);
    logged.push(...numbers.map(change));
    await transport.publish(numbers.map((sequence) => event(sequence)));
  };
  let pagesRead = 0;
  let mostHeld = 0;
  const live: LiveSubscription = replayingEverything(hub, async (after, limit) => {
    pagesRead += 1;
    if (pagesRead === 1) await publish(4, 2_500);
    mostHeld = Math.max(mostHeld, live.holding);
    return logged.filter((entry) => entry.sequence > after).slice(0, limit);
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const total = 2_503;
  const items: LiveItem[] = [];
  while (items.length < total) {
    const step = await live.next();
    if (step.done) break;
    items.push(step.value);
    // Live changes keep arriving while the client catches up.
    if (items.length === 1_000) await publish(2_504, 10);
  }
  const more = await take(live, 10);
  expect([...items, ...more].filter((item) => item.kind === 'end')).toEqual([]);
  expect(sequences([...items, ...more])).toEqual(Array.from({ length: total + 10 }, (_, index) => index + 1));
  expect(pagesRead).toBeGreaterThan(1);
  expect(mostHeld).toBeGreaterThan(0);
  expect(mostHeld).toBeLessThanOrEqual(HELD_MAX);
  await live.return();
  expect(hub.listeners).toBe(0);
});

it('ends at once with endNow: the changes queued and not yet sent are dropped, the end comes next (a token expiring mid-replay)', async () => {
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger);
  // Ten changes in the log, each resolving only when released: they wait in the queue.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const live = new LiveSubscription({
    hub,
    paymentId: null,
    after: 0n,
    userId: null,
    resolve: async (resolved) => {
      await gate;
      return { change: resolved, payments: {}, errors: [], bytes: 0 };
    },
    readLog: async (after, _filter, limit) => Array.from({ length: 10 }, (_unused, index) => change(index + 1)).filter((item) => item.sequence > after).slice(0, limit),
    onEnd: () => {},
  });
  await new Promise((resolve) => setTimeout(resolve, 20)); // the replay queued them
  const first = live.next();
  live.endNow({ kind: 'end', error: new Error('expired') as never });
  release();
  // The delivery already being resolved goes out, then the end; nothing of the other nine.
  const items = [(await first).value as LiveItem, ...(await take(live, 10))];
  expect(sequences(items)).toEqual([1, 'end']);
  await hub.stop();
});
