// The hub watches the payments log's gap-free positions: a live feed that skips positions is
// filled from the log before later events are delivered (in order, each once); a gap that cannot
// be filled interrupts every listener with a retryable SERVICE_UNAVAILABLE instead of going on
// silently. Proven over the real hub and in-process transport with a scripted log reader.
import { GraphQLError } from 'graphql';
import { expect, it } from 'vitest';
import { createInProcessTransport, type DomainEvent } from '@paygraph/events';
import { createLogger } from '@paygraph/logging';
import { startPaymentEventHub, type PaymentStatusChange, type ReadStatusLog } from '../src/subscriptions/hub';

const logger = createLogger({ level: 'silent', name: 'test' });

function event(sequence: number, source = 'payments'): DomainEvent {
  return {
    id: `evt_${source}_${sequence}`,
    source,
    sequence: String(sequence),
    aggregateType: 'Payment',
    aggregateId: `pay_${sequence}`,
    aggregateVersion: 1,
    type: 'payment.succeeded',
    payload: { paymentId: `pay_${sequence}`, buyerId: 'usr_b', merchantId: 'usr_m', status: 'SUCCEEDED', previousStatus: 'PENDING' },
    occurredAt: new Date(0).toISOString(),
  };
}
const change = (sequence: number): PaymentStatusChange => ({
  sequence: BigInt(sequence),
  paymentId: `pay_${sequence}`,
  buyerId: 'usr_b',
  merchantId: 'usr_m',
  status: 'SUCCEEDED',
  previousStatus: 'PENDING',
  occurredAt: new Date(0).toISOString(),
});
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

it('fills a skipped range from the log before delivering what follows, and ignores events delivered again', async () => {
  const transport = createInProcessTransport();
  const reads: bigint[] = [];
  // The log holds 1..12; 11 is not a status change (absent from the reader's answer).
  const readLog: ReadStatusLog = async (after) => {
    reads.push(after);
    return [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12].map(change).filter((entry) => entry.sequence > after);
  };
  const hub = await startPaymentEventHub(transport, logger, { readLog });
  const seen: number[] = [];
  hub.listen(null, (received) => seen.push(Number(received.sequence)));
  await transport.publish([event(8), event(9)]);
  // 10 and 11 were lost on the way; 9 comes again (at least once); another source does not count.
  await transport.publish([event(9), event(40, 'users'), event(12)]);
  await settle();
  expect(seen).toEqual([8, 9, 10, 12]);
  expect(reads).toEqual([9n]);
  expect(hub.gaps).toBe(1);
  await transport.publish([event(13)]);
  await settle();
  expect(seen).toEqual([8, 9, 10, 12, 13]);
  await hub.stop();
});

it('interrupts every listener with SERVICE_UNAVAILABLE when the gap cannot be read, and keeps serving new ones', async () => {
  const transport = createInProcessTransport();
  const hub = await startPaymentEventHub(transport, logger, {
    readLog: async () => {
      throw new Error('payments is down');
    },
  });
  const seen: number[] = [];
  const interruptions: GraphQLError[] = [];
  hub.listen(null, (received) => seen.push(Number(received.sequence)), null, (error) => interruptions.push(error));
  await transport.publish([event(1)]);
  await transport.publish([event(5)]);
  await settle();
  expect(interruptions).toHaveLength(1);
  expect(interruptions[0]!.extensions.code).toBe('SERVICE_UNAVAILABLE');
  const later: number[] = [];
  hub.listen(null, (received) => later.push(Number(received.sequence)));
  await transport.publish([event(6)]);
  await settle();
  expect(later).toEqual([6]);
  await hub.stop();
});
