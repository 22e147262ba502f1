// Proves payments' outbox relay on a real database of its own (embedded, so no other test's relay
// takes its events): committed events reach the transport in log order with gap-free positions,
// once per pass; a crash before publishing loses nothing; a crash after publishing and before
// marking publishes the same events again with the same positions (at least once), and a consumer
// applying by event id applies each once.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createInProcessTransport, relayPass, type DomainEvent, type RelayFaults } from '@paygraph/events';
import { openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { schema } from '../src/db/schema';
import { migrationsFolder } from '../src/server';
import { createPaymentsStore, type PaymentsStore } from '../src/store/payments-store';

let database: ServiceDatabase<typeof schema>;
let store: PaymentsStore;

beforeAll(async () => {
  database = await openServiceDatabase({ service: 'payments', target: { kind: 'pglite', dataDir: 'memory://relay' }, schema, migrationsFolder });
  store = createPaymentsStore(database);
});

afterEach(() => {
  relayFaults.crashAfterClaim = false;
  relayFaults.crashAfterPublish = false;
});

afterAll(async () => {
  await database?.close();
});

async function recordingTransport() {
  const transport = createInProcessTransport();
  const received: DomainEvent[] = [];
  await transport.subscribe((event) => void received.push(event));
  return { transport, received };
}

// The test's control over the relay's crash points, passed to each pass (no module global).
const relayFaults: RelayFaults = { crashAfterClaim: false, crashAfterPublish: false };
const relay = (transport: ReturnType<typeof createInProcessTransport>) => relayPass(database, 'payments', transport, { faults: relayFaults });
const order = (label: string) => store.createOrder({ buyerId: `usr_${label}`, merchantId: 'usr_merchant', amount: 100n, currency: 'USD', description: label });

it('publishes committed events in log order with gap-free positions, once per pass', async () => {
  const { transport, received } = await recordingTransport();
  await relay(transport); // drain anything earlier
  const before = received.length;
  const created = [await order('a'), await order('b'), await order('c')];
  // Nothing is published until the relay runs: a relay that stops before publishing loses nothing.
  expect(received).toHaveLength(before);
  expect(await relay(transport)).toBe(3);
  const fresh = received.slice(before);
  expect(fresh.map((event) => [event.source, event.aggregateId, event.type, event.aggregateVersion])).toEqual(created.map((row) => ['payments', row.id, 'order.created', 1]));
  const positions = received.map((event) => Number(event.sequence));
  expect(positions).toEqual(positions.map((_, index) => index + 1));
  expect(await relay(transport)).toBe(0);
  expect(received).toHaveLength(before + 3);
});

it('keeps the positions it gave when it stops after claiming, before publishing', async () => {
  const { transport, received } = await recordingTransport();
  await relay(transport);
  received.length = 0;
  const first = await order('f');
  relayFaults.crashAfterClaim = true;
  await expect(relay(transport)).rejects.toThrow(/simulated crash/);
  relayFaults.crashAfterClaim = false;
  expect(received).toEqual([]);
  const second = await order('g');
  expect(await relay(transport)).toBe(2);
  expect(received.map((event) => event.aggregateId)).toEqual([first.id, second.id]);
  expect(Number(received[1]!.sequence)).toBe(Number(received[0]!.sequence) + 1);
});

it('republishes after a crash between publish and mark with the same ids and positions; applying by id applies each once', async () => {
  const { transport, received } = await recordingTransport();
  await relay(transport);
  received.length = 0;
  await order('d');
  await order('e');
  relayFaults.crashAfterPublish = true;
  await expect(relay(transport)).rejects.toThrow(/simulated crash/);
  relayFaults.crashAfterPublish = false;
  expect(received).toHaveLength(2);
  expect(await relay(transport)).toBe(2);
  expect(received).toHaveLength(4);
  expect(received.slice(2).map((event) => [event.id, event.sequence])).toEqual(received.slice(0, 2).map((event) => [event.id, event.sequence]));
  const applied = new Map<string, DomainEvent>();
  for (const event of received) if (!applied.has(event.id)) applied.set(event.id, event);
  expect(applied.size).toBe(2);
  expect(await relay(transport)).toBe(0);
});
