// Proves, with an in-memory store, how the delivery worker records attempts and wakes itself:
// outcomes that end together are written in one statement, each send still waiting for its own;
// a write the database refuses is tried again outcome by outcome, so only the outcome it cannot
// store fails; and with a poll interval of an hour, a retry recorded by a pass and a delivery the
// claim left for later are each sent when they fall due (the worker's own wake-up, no extra query).
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Agent } from 'undici';
import { createLogger } from '@paygraph/logging';
import type { DeliveryProvider, OutgoingMessage } from '../src/delivery/providers';
import { attemptRecorder, createDeliveryWorker, type DeliveryWorker } from '../src/delivery/worker';
import type { AttemptOutcome, ClaimedDelivery, NotificationsStore } from '../src/store/notifications-store';
import type { SecretSealer } from '../src/webhooks/secrets';

const outcome = (deliveryId: string, status: AttemptOutcome['status'] = 'SENT'): AttemptOutcome => ({
  deliveryId,
  attempt: 1,
  attemptedAt: new Date(),
  succeeded: status === 'SENT',
  responseStatus: null,
  error: status === 'SENT' ? null : 'refused',
  status,
  retryInMs: status === 'PENDING' ? 1_000 : 0,
});

describe('attemptRecorder', () => {
  it('writes outcomes that end in the same turn in one statement, each caller getting its own answer', async () => {
    const calls: string[][] = [];
    const retryAt = new Date(Date.now() + 1_000);
    const record = attemptRecorder({
      recordAttempts: async (outcomes) => {
        calls.push(outcomes.map((entry) => entry.deliveryId));
        return new Map(outcomes.filter((entry) => entry.status === 'PENDING').map((entry) => [entry.deliveryId, retryAt]));
      },
    });
    const answers = await Promise.all([record(outcome('dlv_a')), record(outcome('dlv_b', 'PENDING')), record(outcome('dlv_c', 'FAILED'))]);
    expect(calls).toEqual([['dlv_a', 'dlv_b', 'dlv_c']]);
    expect(answers).toEqual([null, retryAt, null]);
    // Later outcomes are written by a later statement.
    expect(await record(outcome('dlv_d'))).toBeNull();
    expect(calls).toEqual([['dlv_a', 'dlv_b', 'dlv_c'], ['dlv_d']]);
  });

  it('writes what arrives during a write right after it, not one statement each', async () => {
    const calls: string[][] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    const record = attemptRecorder({
      recordAttempts: async (outcomes) => {
        calls.push(outcomes.map((entry) => entry.deliveryId));
        if (calls.length === 1) await first;
        return new Map();
      },
    });
    const written = [record(outcome('dlv_1'))];
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    written.push(record(outcome('dlv_2')));
    await new Promise((resolve) => setImmediate(resolve));
    written.push(record(outcome('dlv_3')));
    release();
    await Promise.all(written);
    expect(calls).toEqual([['dlv_1'], ['dlv_2', 'dlv_3']]);
  });

  it('tries a refused write again outcome by outcome: only the outcome the database cannot store fails', async () => {
    const calls: string[][] = [];
    const record = attemptRecorder({
      recordAttempts: async (outcomes) => {
        calls.push(outcomes.map((entry) => entry.deliveryId));
        if (outcomes.some((entry) => entry.deliveryId === 'dlv_bad')) throw new Error('invalid byte sequence');
        return new Map();
      },
    });
    const settled = await Promise.allSettled([record(outcome('dlv_ok1')), record(outcome('dlv_bad', 'FAILED')), record(outcome('dlv_ok2'))]);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(calls[0]).toEqual(['dlv_ok1', 'dlv_bad', 'dlv_ok2']);
    expect(calls.slice(1).sort()).toEqual([['dlv_bad'], ['dlv_ok1'], ['dlv_ok2']]);
  });
});

/** Pending SMS deliveries in memory, claimed and recorded as the store does (attempt number, lease). */
function memoryStore() {
  const rows = new Map<string, { status: 'PENDING' | 'SENT' | 'FAILED'; attempts: number; nextAt: number }>();
  const claims: number[] = [];
  const store = {
    add(id: string, dueInMs = 0) {
      rows.set(id, { status: 'PENDING', attempts: 0, nextAt: Date.now() + dueInMs });
    },
    rows,
    claims,
    async claimDue(limit: number, leaseMs: number): Promise<{ claimed: ClaimedDelivery[]; nextDueAt: Date | null }> {
      claims.push(Date.now());
      const due = [...rows].filter(([, row]) => row.status === 'PENDING' && row.nextAt <= Date.now()).slice(0, limit);
      const later = [...rows].filter(([id, row]) => row.status === 'PENDING' && !due.some(([dueId]) => dueId === id)).map(([, row]) => row.nextAt);
      const claimed = due.map(([id, row]) => {
        row.attempts += 1;
        row.nextAt = Date.now() + leaseMs;
        return {
          id,
          kind: 'NOTIFICATION' as const,
          channel: 'SMS' as const,
          userId: 'usr_worker',
          eventId: 'evt_worker',
          eventType: 'payment.succeeded',
          attempt: row.attempts,
          attemptsMax: null,
          traceParent: null,
          notification: { id: `ntf_${id}`, type: 'payment.succeeded', title: 'Title', body: 'Body', email: null, name: null },
          webhook: null,
        };
      });
      return { claimed, nextDueAt: later.length > 0 ? new Date(Math.min(...later)) : null };
    },
    async recordAttempts(outcomes: readonly AttemptOutcome[]): Promise<Map<string, Date>> {
      const retries = new Map<string, Date>();
      for (const entry of outcomes) {
        const row = rows.get(entry.deliveryId);
        if (!row || row.attempts !== entry.attempt || row.status !== 'PENDING') continue;
        row.status = entry.status;
        if (entry.status === 'PENDING') {
          row.nextAt = Date.now() + entry.retryInMs;
          retries.set(entry.deliveryId, new Date(row.nextAt));
        }
      }
      return retries;
    },
    async deliveryQueueDepth() {
      return { due: 0, scheduled: 0 };
    },
  };
  return store;
}

describe('the worker wakes itself when a delivery falls due (poll interval: an hour)', () => {
  let worker: DeliveryWorker | undefined;
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });

  function startWorker(store: ReturnType<typeof memoryStore>, send: (message: OutgoingMessage) => Promise<void>, kickCoalesceMs?: number) {
    const sms: DeliveryProvider = { channel: 'SMS', send };
    worker = createDeliveryWorker({
      store: store as unknown as NotificationsStore,
      providers: new Map([['SMS', sms]]),
      sealer: {} as SecretSealer,
      settings: { deliveryAttemptsMax: 3, deliveryRetryBaseMs: 100, deliveryRetryMaxMs: 1_000, deliveryPollIntervalMs: 3_600_000, webhookTimeoutMs: 1_000, webhookPrivateAddressesAllowed: false },
      webhookAgent: {} as Agent,
      logger: createLogger({ level: 'silent' }),
      ...(kickCoalesceMs === undefined ? {} : { kickCoalesceMs }),
    });
    return worker;
  }

  it('sends a retry its pass recorded when the retry falls due', async () => {
    const store = memoryStore();
    store.add('dlv_retry');
    let tries = 0;
    const started = startWorker(store, async () => {
      tries += 1;
      if (tries === 1) throw new Error('provider unavailable');
    });
    await started.drain();
    expect(store.rows.get('dlv_retry')).toMatchObject({ status: 'PENDING', attempts: 1 });
    await vi.waitFor(() => expect(store.rows.get('dlv_retry')).toMatchObject({ status: 'SENT', attempts: 2 }), { timeout: 3_000, interval: 20 });
  });

  it('sends a delivery kicked while a slow one is still under way at once, not after it (a pass waited for its whole batch)', async () => {
    const store = memoryStore();
    store.add('dlv_slow');
    const sentAt = new Map<string, number>();
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    const started = startWorker(
      store,
      async (message) => {
        if (message.deliveryId === 'dlv_slow') await slow;
        sentAt.set(message.deliveryId, Date.now());
      },
      5,
    );
    started.kick();
    await vi.waitFor(() => expect(store.rows.get('dlv_slow')!.attempts).toBe(1), { timeout: 1_000, interval: 5 });
    store.add('dlv_fast');
    const kickedAt = Date.now();
    started.kick();
    await vi.waitFor(() => expect(store.rows.get('dlv_fast')).toMatchObject({ status: 'SENT', attempts: 1 }), { timeout: 1_000, interval: 5 });
    expect(sentAt.get('dlv_fast')! - kickedAt).toBeLessThan(500);
    expect(store.rows.get('dlv_slow')).toMatchObject({ status: 'PENDING', attempts: 1 });
    releaseSlow();
    // drain() waits for the sends under way, the slow one included.
    await started.drain();
    expect(store.rows.get('dlv_slow')).toMatchObject({ status: 'SENT', attempts: 1 });
  });

  it('runs one pass for the kicks of a coalescing window, and sends what they announced', async () => {
    const store = memoryStore();
    // A window far longer than the gaps between kicks (each kick's pass would be over by the next).
    const started = startWorker(store, async () => {}, 1_000);
    for (let index = 0; index < 3; index += 1) {
      store.add(`dlv_kick_${index}`);
      started.kick();
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    expect(store.claims).toEqual([]); // the first kick's pass waits for the window
    await vi.waitFor(() => expect([...store.rows.values()].every((row) => row.status === 'SENT')).toBe(true), { timeout: 3_000, interval: 10 });
    expect(store.claims).toHaveLength(1);
  });

  it('sends a delivery the claim left for later when it falls due', async () => {
    const store = memoryStore();
    // Before the delivery is added (due 150 ms after that): taken after it, a slow start of the
    // worker came off the 150 ms, and the send measured 137 ms after it in a CI rehearsal.
    const before = Date.now();
    store.add('dlv_later', 150);
    const sentAt: number[] = [];
    const started = startWorker(store, async () => void sentAt.push(Date.now()));
    await started.drain();
    expect(store.rows.get('dlv_later')).toMatchObject({ status: 'PENDING', attempts: 0 });
    await vi.waitFor(() => expect(store.rows.get('dlv_later')).toMatchObject({ status: 'SENT', attempts: 1 }), { timeout: 3_000, interval: 20 });
    expect(sentAt[0]! - before).toBeGreaterThanOrEqual(140);
    // Woken when it fell due, not polled in between: the drain's claim, the wake-up's (and one more
    // when the timer fires a millisecond before the due time, which sets a wake-up for that millisecond).
    expect(store.claims.length).toBeGreaterThanOrEqual(2);
    expect(store.claims.length).toBeLessThanOrEqual(3);
    expect(store.claims[1]! - before).toBeGreaterThanOrEqual(140);
  });
});
