/**
 * The outbox relay: hands committed events to the transport in log order, then marks them. A
 * crash between the two republishes the same events on the next pass (at least once; consumers
 * apply by event id); a crash before publishing loses nothing (the rows wait in the outbox).
 */
import type { DomainEvent, EventTransport } from '@paygraph/events';
import type { OutboxEventRow } from './db/schema';
import type { PaymentsStore } from './store/payments-store';

/** Events relayed per pass; a pass that fills its batch runs again at once. */
export const RELAY_BATCH_MAX = 200;

export function toDomainEvent(row: OutboxEventRow): DomainEvent {
  return {
    id: row.id,
    sequence: row.sequence.toString(),
    aggregateType: row.aggregateType,
    aggregateId: row.aggregateId,
    aggregateVersion: row.aggregateVersion,
    type: row.type,
    payload: row.payload,
    occurredAt: row.createdAt.toISOString(),
  };
}

/** Test-only: a step after which the relay stops as if the process crashed. */
export const relayFaults: { crashAfterPublish: boolean } = { crashAfterPublish: false };

/** One pass; returns how many events were published. */
export async function relayOutbox(store: PaymentsStore, transport: EventTransport, batchMax = RELAY_BATCH_MAX): Promise<number> {
  let total = 0;
  for (;;) {
    const batch = await store.unpublishedEvents(batchMax);
    if (batch.length === 0) return total;
    await transport.publish(batch.map(toDomainEvent));
    if (relayFaults.crashAfterPublish) throw new Error('simulated crash after publish, before marking');
    await store.markPublished(batch.map((event) => event.id));
    total += batch.length;
    if (batch.length < batchMax) return total;
  }
}
