// The in-process transport's contract: handlers see events in publish order; a live subscriber's
// failure is reported and changes nothing; a durable consumer's failure fails the publish (after
// the other handlers ran) so the relay publishes the batch again.
import { expect, it } from 'vitest';
import { createInProcessTransport, type DomainEvent } from '../src/index';

const event = (sequence: number): DomainEvent => ({
  id: `evt_${sequence}`,
  source: 'test',
  sequence: String(sequence),
  aggregateType: 'Thing',
  aggregateId: 'thing_1',
  aggregateVersion: sequence,
  type: 'thing.changed',
  payload: {},
  occurredAt: new Date(0).toISOString(),
});

it('delivers in publish order to every subscriber until it unsubscribes', async () => {
  const transport = createInProcessTransport();
  const first: string[] = [];
  const second: string[] = [];
  const one = await transport.subscribe((received) => void first.push(received.sequence));
  await transport.subscribe((received) => void second.push(received.sequence));
  await transport.publish([event(1), event(2)]);
  await one.unsubscribe();
  await transport.publish([event(3)]);
  expect(first).toEqual(['1', '2']);
  expect(second).toEqual(['1', '2', '3']);
});

it("reports a live subscriber's failure without failing the publish", async () => {
  const reported: string[] = [];
  const transport = createInProcessTransport((_error, failed) => reported.push(failed.id));
  const seen: string[] = [];
  await transport.subscribe(() => {
    throw new Error('live subscriber broke');
  });
  await transport.subscribe((received) => void seen.push(received.id));
  await expect(transport.publish([event(1)])).resolves.toBeUndefined();
  expect(reported).toEqual(['evt_1']);
  expect(seen).toEqual(['evt_1']);
});

it("fails the publish when a durable consumer fails, after the others ran, so the event comes again", async () => {
  const transport = createInProcessTransport();
  let failures = 1;
  const durable: string[] = [];
  const live: string[] = [];
  await transport.subscribe(
    (received) => {
      if (failures-- > 0) throw new Error('durable consumer broke once');
      durable.push(received.id);
    },
    { durable: 'notifications' },
  );
  await transport.subscribe((received) => void live.push(received.id));
  await expect(transport.publish([event(1)])).rejects.toThrow(/broke once/);
  expect(live).toEqual(['evt_1']);
  await transport.publish([event(1)]);
  expect(durable).toEqual(['evt_1']);
  expect(live).toEqual(['evt_1', 'evt_1']);
});
