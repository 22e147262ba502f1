// Proves the outbox relay on a real database of its own (embedded, so no other test's relay takes
// its events): committed events reach the transport in log order and once per pass; a crash
// before publishing loses nothing; a crash after publishing and before marking publishes the same
// events again (at least once), and a consumer applying by event id applies each once.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createInProcessTransport, type DomainEvent } from '@paygraph/events';
import { openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { schema } from '../src/db/schema';
import { relayFaults, relayOutbox } from '../src/relay';
import { migrationsFolder } from '../src/server';
import { createPaymentsStore, type PaymentsStore } from '../src/store/payments-store';

let database: ServiceDatabase<typeof schema>;
let store: PaymentsStore;

beforeAll(async () => {
  database = await openServiceDatabase({ service: 'payments', target: { kind: 'pglite', dataDir: 'memory://relay' }, schema, migrationsFolder });
  store = createPaymentsStore(database);
});

afterEach(() => {
  relayFaults.crashAfterPublish = false;
});

afterAll(async () => {
  await database?.close();
});

function recordingTransport() {
  const transport = createInProcessTransport();
  const received: DomainEvent[] = [];
  transport.subscribe((event) => void received.push(event));
  return { transport, received };
}

const order = (label: string) => store.createOrder({ buyerId: `usr_${label}`, merchantId: 'usr_merchant', amount: 100n, currency: 'USD', description: label });

it('publishes committed events in log order, once per pass', async () => {
  const { transport, received } = recordingTransport();
  await relayOutbox(store, transport); // drain anything earlier
  received.length = 0;
  const created = [await order('a'), await order('b'), await order('c')];
  // Nothing is published until the relay runs: a relay that stops before publishing loses nothing.
  expect(received).toEqual([]);
  expect(await relayOutbox(store, transport)).toBe(3);
  expect(received.map((event) => [event.aggregateId, event.type, event.aggregateVersion])).toEqual(created.map((row) => [row.id, 'order.created', 1]));
  const sequences = received.map((event) => BigInt(event.sequence));
  expect([...sequences].sort((a, b) => (a < b ? -1 : 1))).toEqual(sequences);
  expect(await relayOutbox(store, transport)).toBe(0);
  expect(received).toHaveLength(3);
});

it('republishes after a crash between publish and mark; applying by event id applies each once', async () => {
  const { transport, received } = recordingTransport();
  await relayOutbox(store, transport);
  received.length = 0;
  await order('d');
  await order('e');
  relayFaults.crashAfterPublish = true;
  await expect(relayOutbox(store, transport)).rejects.toThrow(/simulated crash/);
  relayFaults.crashAfterPublish = false;
  expect(received).toHaveLength(2);
  expect(await relayOutbox(store, transport)).toBe(2);
  expect(received).toHaveLength(4);
  expect(received.slice(2).map((event) => event.id)).toEqual(received.slice(0, 2).map((event) => event.id));
  const applied = new Map<string, DomainEvent>();
  for (const event of received) if (!applied.has(event.id)) applied.set(event.id, event);
  expect(applied.size).toBe(2);
  expect(await relayOutbox(store, transport)).toBe(0);
});
