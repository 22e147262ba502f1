// Proves the NATS JetStream transport on a stream and subject prefix of its own (deleted at the
// end): the shared transport contract (fan-out, durable resume and retry, relay crash windows),
// plus what is particular to it: the duplicate window absorbing a republish, and instances of one
// durable consumer sharing the work one event at a time.
import { jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@paygraph/logging';
import { freePort } from '@paygraph/testing';
import { createNatsTransport, pruneNatsStream, type DomainEvent } from '../src';
import { eventually, natsServerUrl, pause, randomSuffix, range } from './fixture';
import { transportContract } from './transport-contract';

const logger = createLogger({ level: 'silent' });
/** The nats-server binary (Debian's package; NATS_SERVER_PATH elsewhere). */
const NATS_SERVER = process.env.NATS_SERVER_PATH ?? '/usr/sbin/nats-server';
const suffix = randomSuffix();
const stream = `PAYGRAPH_EVENTS_TEST_${suffix}`;
const subjectPrefix = `paygraph_test_${suffix}.events`;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nc = await connect({ servers: natsServerUrl });
  jsm = await jetstreamManager(nc);
});

/** Streams of the retention tests (each its own, so pruning sees only its messages). */
const retentionStreams: string[] = [];

afterAll(async () => {
  for (const name of [stream, ...retentionStreams]) await jsm?.streams.delete(name).catch(() => {});
  await nc?.close();
});

/** `count` events of one source, sequences from `from`, as a relay would publish them. */
const eventsOf = (source: string, from: number, count: number): DomainEvent[] =>
  Array.from({ length: count }, (_, index) => ({
    id: `${source}-${from + index}`,
    source,
    sequence: String(from + index),
    aggregateType: 'Payment',
    aggregateId: 'agg',
    aggregateVersion: from + index,
    type: 'PaymentTested',
    payload: {},
    occurredAt: new Date().toISOString(),
  }));

/** A stream and subject prefix of a retention test's own. */
const retentionStream = () => {
  const own = randomSuffix();
  const names = { stream: `PAYGRAPH_RETENTION_TEST_${own}`, subjectPrefix: `paygraph_retention_${own}.events` };
  retentionStreams.push(names.stream);
  return names;
};

/** A logger keeping what it writes at warn and above, parsed. */
const capturingLogger = () => {
  const lines: { msg: string; [field: string]: unknown }[] = [];
  return { lines, logger: createLogger({ level: 'warn', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } }) };
};

/** Publishes `count` events straight to a stream's subjects (faster than a transport's publish for thousands). */
const publishMany = async (subjectPrefix: string, count: number) => {
  const { jetstream } = await import('@nats-io/jetstream');
  const js = jetstream(nc);
  for (let from = 0; from < count; from += 1_000) {
    await Promise.all(Array.from({ length: Math.min(1_000, count - from) }, () => js.publish(`${subjectPrefix}.src.Payment`, '{}')));
  }
};

const suite = transportContract({ open: () => createNatsTransport({ servers: natsServerUrl, logger, stream, subjectPrefix }) });

describe('NATS transport', () => {
  it('creates the stream with its subjects, file storage, a 2-minute duplicate window and no age limit (retention is the transport\'s)', async () => {
    await suite.open();
    const { config } = await jsm.streams.info(stream);
    expect(config).toMatchObject({ subjects: [`${subjectPrefix}.>`], storage: 'file', duplicate_window: 120 * 1e9, max_age: 0 });
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

describe('NATS retention (EVENT_RETENTION_SECONDS)', () => {
  it('removes the age limit of a stream an older deployment created with one (a max_age drops what a durable consumer has not acknowledged)', async () => {
    const names = retentionStream();
    await jsm.streams.add({ name: names.stream, subjects: [`${names.subjectPrefix}.>`], storage: StorageType.File, max_age: nanos(7 * 24 * 3_600_000) });
    const transport = await createNatsTransport({ servers: natsServerUrl, logger, ...names, retentionSeconds: 3_600 });
    try {
      expect((await jsm.streams.info(names.stream)).config.max_age).toBe(0);
    } finally {
      await transport.close();
    }
  });

  it('deletes messages older than the retention that every durable consumer acknowledged, never one a durable consumer has not (it comes again after its handler failed)', async () => {
    const names = retentionStream();
    const transport = await createNatsTransport({ servers: natsServerUrl, logger, ...names });
    try {
      const source = `src_${randomSuffix()}`;
      let blockFrom = 4;
      const applied: number[] = [];
      await transport.subscribe(
        (event) => {
          if (Number(event.sequence) >= blockFrom) throw new Error('consumer behind');
          applied.push(Number(event.sequence));
        },
        { durable: `behind-${randomSuffix()}` },
      );
      await transport.publish(eventsOf(source, 1, 5));
      await eventually(() => expect(applied).toEqual([1, 2, 3]));
      await pause(1_200);
      // All five are older than 1 s; the consumer acknowledged 1 to 3 only.
      expect(await pruneNatsStream(jsm, names.stream, { olderThanSeconds: 1 })).toMatchObject({ deleted: 3, capped: false });
      expect((await jsm.streams.info(names.stream)).state).toMatchObject({ first_seq: 4, last_seq: 5, messages: 2 });
      // Within the retention nothing goes, acknowledged or not.
      expect(await pruneNatsStream(jsm, names.stream, { olderThanSeconds: 3_600 })).toMatchObject({ deleted: 0, capped: false });

      blockFrom = Number.POSITIVE_INFINITY;
      await eventually(() => expect(applied).toEqual([1, 2, 3, 4, 5]), 15_000);
      await transport.publish(eventsOf(source, 6, 2));
      await eventually(() => expect(applied).toEqual([1, 2, 3, 4, 5, 6, 7]));
      // 4 and 5 are old and acknowledged now; 6 and 7 are acknowledged but newer than the retention.
      expect(await pruneNatsStream(jsm, names.stream, { olderThanSeconds: 1 })).toMatchObject({ deleted: 2, capped: false });
      expect((await jsm.streams.info(names.stream)).state).toMatchObject({ first_seq: 6, last_seq: 7, messages: 2 });
    } finally {
      await transport.close();
    }
  }, 30_000);

  it('applies EVENT_RETENTION_SECONDS on its own (each transport instance prunes on a timer)', async () => {
    const names = retentionStream();
    const transport = await createNatsTransport({ servers: natsServerUrl, logger, ...names, retentionSeconds: 1, pruneIntervalMs: 200 });
    try {
      const applied: string[] = [];
      await transport.subscribe((event) => void applied.push(event.sequence), { durable: `timely-${randomSuffix()}` });
      await transport.publish(eventsOf(`src_${randomSuffix()}`, 1, 3));
      await eventually(() => expect(applied).toEqual(['1', '2', '3']));
      await eventually(async () => expect((await jsm.streams.info(names.stream)).state).toMatchObject({ first_seq: 4, last_seq: 3, messages: 0 }), 10_000);
    } finally {
      await transport.close();
    }
  }, 30_000);
});

describe('NATS retention: failures, catching up, closing, stale consumers', () => {
  it('fails the run when a message lookup fails (timeout, reconnect), never taking it for a message gone and deleting messages inside the retention', async () => {
    const names = retentionStream();
    const transport = await createNatsTransport({ servers: natsServerUrl, logger, ...names });
    try {
      await transport.publish(eventsOf(`src_${randomSuffix()}`, 1, 3));
      const streams = Object.create(jsm.streams) as JetStreamManager['streams'];
      streams.getMessage = () => Promise.reject(new Error('TIMEOUT'));
      const failing = { streams, consumers: jsm.consumers } as unknown as JetStreamManager;
      await expect(pruneNatsStream(failing, names.stream, { olderThanSeconds: 3_600 })).rejects.toThrow('TIMEOUT');
      expect((await jsm.streams.info(names.stream)).state).toMatchObject({ first_seq: 1, messages: 3 });
    } finally {
      await transport.close();
    }
  });

  it('stops a run at its cap (saying more remain) and between chunks of deletes when asked to', async () => {
    const names = retentionStream();
    const transport = await createNatsTransport({ servers: natsServerUrl, logger, ...names });
    try {
      await publishMany(names.subjectPrefix, 1_000);
      await pause(1_100);
      expect(await pruneNatsStream(jsm, names.stream, { olderThanSeconds: 1, maxDeletes: 300 })).toMatchObject({ deleted: 300, capped: true });
      let asked = 0;
      // Asked before each lookup of the search (about 10 over 700 messages) and each chunk of 256 deletes: stops after a chunk or two.
      const stopped = await pruneNatsStream(jsm, names.stream, { olderThanSeconds: 1, stopping: () => ++asked > 11 });
      expect([256, 512]).toContain(stopped.deleted);
      expect((await jsm.streams.info(names.stream)).state).toMatchObject({ first_seq: 301 + stopped.deleted, messages: 700 - stopped.deleted });
      expect(await pruneNatsStream(jsm, names.stream, { olderThanSeconds: 1 })).toMatchObject({ deleted: 700 - stopped.deleted, capped: false });
    } finally {
      await transport.close();
    }
  }, 30_000);

  it('runs again shortly after a run that stopped at its cap (traffic above the cap must not leave retention behind), and logs it', async () => {
    const names = retentionStream();
    const { lines, logger: capturing } = capturingLogger();
    const transport = await createNatsTransport({ servers: natsServerUrl, logger: capturing, ...names, retentionSeconds: 1, pruneIntervalMs: 2_000, pruneDeletesPerRun: 2 });
    try {
      await transport.publish(eventsOf(`src_${randomSuffix()}`, 1, 8));
      // The first run (1.6 to 2.4 s after the start) deletes two; without catching up, the other six would take three more intervals.
      await eventually(async () => expect((await jsm.streams.info(names.stream)).state.first_seq).toBeGreaterThan(1), 10_000);
      await eventually(async () => expect((await jsm.streams.info(names.stream)).state.messages).toBe(0), 1_500);
      expect(lines.filter((line) => line.msg.includes('per-run cap')).length).toBeGreaterThanOrEqual(3);
    } finally {
      await transport.close();
    }
  }, 30_000);

  it('close() returns promptly during a long pruning run (it stops between chunks of deletes)', async () => {
    const names = retentionStream();
    await jsm.streams.add({ name: names.stream, subjects: [`${names.subjectPrefix}.>`], storage: StorageType.File });
    await publishMany(names.subjectPrefix, 20_000);
    await pause(1_100);
    const transport = await createNatsTransport({ servers: natsServerUrl, logger, ...names, retentionSeconds: 1, pruneIntervalMs: 100 });
    await eventually(async () => expect((await jsm.streams.info(names.stream)).state.first_seq).toBeGreaterThan(1), 10_000);
    const started = Date.now();
    await transport.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    // Stopped mid-run: the rest is still there, and no run started after close().
    const left = (await jsm.streams.info(names.stream)).state.messages;
    expect(left).toBeGreaterThan(0);
    await pause(300);
    expect((await jsm.streams.info(names.stream)).state.messages).toBe(left);
  }, 60_000);

  it('warns once a run about a durable consumer whose unacknowledged messages are past the retention (an abandoned one stops pruning), naming it', async () => {
    const names = retentionStream();
    const { lines, logger: capturing } = capturingLogger();
    const transport = await createNatsTransport({ servers: natsServerUrl, logger: capturing, ...names, retentionSeconds: 1, pruneIntervalMs: 300 });
    try {
      const stuck = `stuck-${randomSuffix()}`;
      const current = `current-${randomSuffix()}`;
      const applied: string[] = [];
      await transport.subscribe(() => {
        throw new Error('never applies');
      }, { durable: stuck });
      await transport.subscribe((event) => void applied.push(event.sequence), { durable: current });
      await transport.publish(eventsOf(`src_${randomSuffix()}`, 1, 2));
      await eventually(() => expect(applied).toEqual(['1', '2']));
      await eventually(() => expect(lines.some((line) => line.msg.includes('past retention'))).toBe(true), 10_000);
      const warning = lines.find((line) => line.msg.includes('past retention'));
      expect(warning).toMatchObject({ level: 40, stream: names.stream, consumers: [stuck] });
      expect(await pruneNatsStream(jsm, names.stream, { olderThanSeconds: 1 })).toEqual({ deleted: 0, capped: false, staleConsumers: [stuck] });
      expect((await jsm.streams.info(names.stream)).state.messages).toBe(2);
    } finally {
      await transport.close();
    }
  }, 30_000);
});

// Last: it leaves 10,005 events behind (see crossingPowersOfTen).
describe('positions as integers', () => suite.crossingPowersOfTen());

describe('NATS: a stream or consumer the server lost', () => {
  // Found by the scale-out probe: NATS restarted on an empty store left the relays failing every
  // pass, notifications' durable consumer waiting for ever and every /ready at 200.
  it('recreates the stream and the durable consumer after the server restarts on an empty store, and both go on', async () => {
    const server = await privateNatsServer();
    const transport = await createNatsTransport({ servers: server.url, logger, stream, subjectPrefix });
    const received: string[] = [];
    const source = `src_${randomSuffix()}`;
    try {
      await transport.subscribe(async (event) => void received.push(event.id), { durable: `lost_${randomSuffix()}` });
      await transport.publish(eventsOf(source, 1, 1));
      await eventually(() => expect(received).toEqual([`${source}-1`]));
      await server.restartEmpty();
      // A relay publishes again on its next pass until the server takes it (the same ids).
      await eventually(() => transport.publish(eventsOf(source, 2, 2)), 20_000);
      await eventually(() => expect(received).toEqual([`${source}-1`, `${source}-2`, `${source}-3`]), 20_000);
      expect(await transport.ready!()).toBe(true);
    } finally {
      await transport.close();
      await server.stop();
    }
  }, 60_000);

  it('recreates a durable consumer of the process deleted by hand; its events come again', async () => {
    const names = retentionStream();
    const transport = await createNatsTransport({ servers: natsServerUrl, logger, ...names });
    const received: string[] = [];
    const source = `src_${randomSuffix()}`;
    const durable = `lost_${randomSuffix()}`;
    try {
      await transport.subscribe(async (event) => void received.push(event.id), { durable });
      expect(await transport.ready!()).toBe(true);
      await jsm.consumers.delete(names.stream, durable);
      await eventually(async () => expect(await transport.ready!()).toBe(true), 15_000);
      await eventually(async () => expect((await jsm.consumers.info(names.stream, durable)).name).toBe(durable), 15_000);
      await transport.publish(eventsOf(source, 1, 1));
      await eventually(() => expect(received).toEqual([`${source}-1`]), 15_000);
    } finally {
      await transport.close();
    }
  }, 45_000);
});

/** A nats-server of the test's own (JetStream, its own store), which it can restart on an empty store. */
async function privateNatsServer() {
  const port = await freePort();
  let child: ChildProcess;
  let storeDir = '';
  const start = async () => {
    storeDir = mkdtempSync(path.join(os.tmpdir(), 'paygraph-nats-'));
    child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: 'ignore' });
    await eventually(async () => {
      const probe = await connect({ servers: `nats://127.0.0.1:${port}` });
      await probe.close();
    }, 10_000);
  };
  const stop = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    rmSync(storeDir, { recursive: true, force: true });
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    /** Stops the server and starts it again on a new, empty store directory (the stream and its consumers are gone). */
    async restartEmpty() {
      await stop();
      await start();
    },
    stop,
  };
}
