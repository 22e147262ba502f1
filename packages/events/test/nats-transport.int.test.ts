// Proves the NATS JetStream transport on a stream and subject prefix of its own (deleted at the
// end): the shared transport contract (fan-out, durable resume and retry, relay crash windows),
// plus what is particular to it: the duplicate window absorbing a republish, and instances of one
// durable consumer sharing the work one event at a time.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@paygraph/logging';
import { createNatsTransport, type DomainEvent } from '../src';
import { eventually, natsServerUrl, pause, randomSuffix, range } from './fixture';
import { transportContract } from './transport-contract';

const logger = createLogger({ level: 'silent' });
const suffix = randomSuffix();
const stream = `PAYGRAPH_EVENTS_TEST_${suffix}`;
const subjectPrefix = `paygraph_test_${suffix}.events`;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nc = await connect({ servers: natsServerUrl });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await jsm?.streams.delete(stream).catch(() => {});
  await nc?.close();
});

const suite = transportContract({ open: () => createNatsTransport({ servers: natsServerUrl, logger, stream, subjectPrefix }) });

describe('NATS transport', () => {
  it('creates the stream with its subjects, file storage, a 2-minute duplicate window and a 7-day max age', async () => {
    await suite.open();
    const { config } = await jsm.streams.info(stream);
    expect(config).toMatchObject({ subjects: [`${subjectPrefix}.>`], storage: 'file', duplicate_window: 120 * 1e9, max_age: 7 * 24 * 3600 * 1e9 });
  });

  it('stores events published again inside the duplicate window once', async () => {
    const db = suite.database();
    const source = await suite.newSource();
    const relay = await suite.open();
    await db.append(source, 3);
    await db.relay(source, relay);
    const events = (await db.database.query<Record<string, unknown>>(`select id from ${source}.outbox_events order by position`)).map((row) => String(row.id));
    const before = (await jsm.streams.info(stream)).state.messages;
    const republished: DomainEvent[] = events.map((id, index) => ({
      id,
      source,
      sequence: String(index + 1),
      aggregateType: 'Payment',
      aggregateId: 'agg',
      aggregateVersion: index + 1,
      type: 'PaymentTested',
      payload: {},
      occurredAt: new Date().toISOString(),
    }));
    await relay.publish(republished);
    expect((await jsm.streams.info(stream)).state.messages).toBe(before);
  });

  it('shares a durable consumer between instances, one event at a time, in order', async () => {
    const db = suite.database();
    const source = await suite.newSource();
    const relay = await suite.open();
    const durable = `shared.work ${suffix}`;
    const handled: { instance: string; sequence: string }[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const handlerOf = (instance: string) => async (event: DomainEvent) => {
      if (event.source !== source) return;
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await pause(20);
      handled.push({ instance, sequence: event.sequence });
      inFlight -= 1;
    };
    await (await suite.open()).subscribe(handlerOf('a'), { durable });
    await (await suite.open()).subscribe(handlerOf('b'), { durable });
    await db.append(source, 8);
    await db.relay(source, relay);
    await eventually(() => expect(handled.map((entry) => `${source}:${entry.sequence}`)).toEqual(range(source, 1, 8)));
    expect(maxInFlight).toBe(1);
    expect(new Set(handled.map((entry) => entry.instance))).toEqual(new Set(['a', 'b']));
    const consumer = await jsm.consumers.info(stream, 'shared_work_' + suffix);
    expect(consumer.config).toMatchObject({ ack_policy: 'explicit', deliver_policy: 'all', max_ack_pending: 1 });
  });
});

// Last: it leaves 10,005 events behind (see crossingPowersOfTen).
describe('positions as integers', () => suite.crossingPowersOfTen());
