// Proves audit records survive users being down and the recording process dying: a record is kept
// in the recording service's audit outbox (auth's migration creates it) while users cannot be
// reached, a new recorder over the same table (the process restarted) relays it, users stores it
// once even when it is sent again (a crash after sending and before deleting), and a record written
// in a transaction that rolls back is never sent, and one record users refuses as invalid is dropped
// (logged) without holding back the records after it. A record relayed after an outage keeps the
// time it was written (never a future one), and records written while users is down wait for the
// relay's retry instead of each calling users. Runs against the real auth and users subgraphs.
// The outbox here is a copy of auth's table in a schema of this file's own, so the platform's own
// relays (and other test files' on a shared PostgreSQL database) never touch these rows.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect, vi } from 'vitest';
import { createOutboxAuditRecorder } from '@paygraph/audit';
import { openServiceDatabase, resolveDatabaseTarget, type ServiceDatabase } from '@paygraph/db';
import { createLogger } from '@paygraph/logging';
import { subgraphTest } from '@paygraph/platform/fixtures';
import { createServiceClient, type ServiceClient } from '@paygraph/service-client';

const test = subgraphTest({ subgraphs: ['auth', 'users'] })
  .extend('databases', { scope: 'file' }, async ({ platform: _started }, { onCleanup }) => {
    const open = (service: string) =>
      openServiceDatabase({ service, target: resolveDatabaseTarget(service, process.env, 'memory://'), schema: {}, migrationsFolder: new URL(`../../${service}/drizzle`, import.meta.url).pathname });
    const auth = await open('auth');
    const users = await open('users');
    onCleanup(async () => {
      await auth.close();
      await users.close();
    });
    return { auth, users };
  });

const SOURCE = `audit_test_${randomBytes(4).toString('hex')}`;
const logger = createLogger({ level: 'silent' });
let auth: ServiceDatabase<Record<string, never>>;
let users: ServiceDatabase<Record<string, never>>;
let urls: Readonly<Record<string, string>>;

test.beforeAll(async ({ databases, urls: started }) => {
  ({ auth, users } = databases);
  urls = started;
  // auth's own migration, applied to this file's schema.
  const migration = readFileSync(new URL('../drizzle/0001_audit_outbox.sql', import.meta.url), 'utf8').replaceAll('"auth".', `"${SOURCE}".`);
  await auth.query(`create schema ${SOURCE}`);
  for (const statement of migration.split('--> statement-breakpoint')) await auth.query(statement);
});

/** Auth's service client, reaching users at `usersUrl`. */
function clientFor(usersUrl: string) {
  const directory = { url: (name: string) => (name === 'users' ? usersUrl : urls[name]!), urls: (name: string) => [name === 'users' ? usersUrl : urls[name]!] };
  return createServiceClient({ service: 'auth', serviceSecret: process.env.SERVICE_SECRET!, directory, timeoutMs: 2_000 });
}

/** A recorder as auth builds it, reaching users at `usersUrl`. */
function recorder(usersUrl: string) {
  return createOutboxAuditRecorder({ source: SOURCE, query: auth.query, client: clientFor(usersUrl), logger, retryMs: 50 });
}

const waiting = () => auth.query<{ id: string; subject_id: string }>(`select id, subject_id from ${SOURCE}.audit_outbox order by sequence`);
const inTrail = (subjectId: string) => users.query<{ id: string; type: string; actor_id: string; outcome: string; service: string; request_id: string }>(`select id, type, actor_id, outcome, service, request_id from users.audit_events where subject_id = $1`, [subjectId]);
const occurredAt = async (subjectId: string) =>
  (await users.query<{ occurred_at: Date | string }>(`select occurred_at from users.audit_events where subject_id = $1`, [subjectId])).map((row) => new Date(row.occurred_at).getTime());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('keeps a record while users is down and relays it once after a restart, even when sent twice', async () => {
  const subject = `usr_${randomBytes(8).toString('hex')}`;
  // Users unreachable (a closed port): the action goes on, the record waits.
  const down = recorder('http://127.0.0.1:1/graphql');
  down.start();
  await down.record({ requestId: 'req-outbox-1' }, { type: 'auth.login', actorId: subject, subjectId: subject, outcome: 'SUCCESS' });
  await expect(down.flush()).rejects.toThrow();
  await down.stop();
  const [kept] = await waiting();
  expect(kept).toMatchObject({ subject_id: subject, id: expect.stringMatching(/^aud_[0-9a-z]{20}$/) });
  expect(await inTrail(subject)).toEqual([]);

  // The process "restarted": a new recorder over the same table sends what waits, and deletes it.
  const up = recorder(urls.users!);
  expect(await up.flush()).toBe(1);
  expect(await waiting()).toEqual([]);
  expect(await inTrail(subject)).toEqual([{ id: kept!.id, type: 'auth.login', actor_id: subject, outcome: 'SUCCESS', service: 'auth', request_id: 'req-outbox-1' }]);

  // Crashed after sending and before deleting: the same record goes again, users keeps one.
  await auth.query(`insert into ${SOURCE}.audit_outbox (id, type, actor_id, subject_id, outcome) values ($1, 'auth.login', $2, $2, 'SUCCESS')`, [kept!.id, subject]);
  expect(await up.flush()).toBe(1);
  expect(await inTrail(subject)).toHaveLength(1);
});

test('relays by itself once started, retrying until users answers', async () => {
  const subject = `usr_${randomBytes(8).toString('hex')}`;
  const relay = recorder(urls.users!);
  relay.start();
  try {
    await relay.record({}, { type: 'auth.login_failed', actorId: null, subjectId: subject, outcome: 'FAILURE' });
    await expect.poll(async () => (await inTrail(subject)).length, { timeout: 10_000 }).toBe(1);
    await expect.poll(waiting, { timeout: 5_000 }).toEqual([]);
  } finally {
    await relay.stop();
  }
});

test('never sends a record written in a transaction that rolled back', async () => {
  const subject = `usr_${randomBytes(8).toString('hex')}`;
  const relay = recorder(urls.users!);
  await expect(
    auth.transaction(async (sql) => {
      await relay.record({ sql }, { type: 'auth.login', actorId: subject, subjectId: subject, outcome: 'SUCCESS' });
      throw new Error('the action failed');
    }),
  ).rejects.toThrow('the action failed');
  expect(await relay.flush()).toBe(0);
  expect(await inTrail(subject)).toEqual([]);
});

test('drops a record users refuses as invalid (logged) and still relays the ones after it', async () => {
  const subject = `usr_${randomBytes(8).toString('hex')}`;
  // Written by an older version, say: details that are not a JSON object.
  await auth.query(`insert into ${SOURCE}.audit_outbox (id, type, actor_id, subject_id, outcome, details) values ($1, 'auth.login', $2, $2, 'SUCCESS', '[1]')`, [`aud_${randomBytes(10).toString('hex')}`, subject]);
  const relay = recorder(urls.users!);
  await relay.record({}, { type: 'auth.login', actorId: subject, subjectId: subject, outcome: 'SUCCESS', details: { fine: true } });
  expect(await relay.flush()).toBe(2);
  expect(await waiting()).toEqual([]);
  expect((await inTrail(subject)).map((record) => record.type)).toEqual(['auth.login']);
});

test('keeps every record when users refuses the call itself (an older users without a field), and relays them once users takes it', async () => {
  const subjects = [`usr_${randomBytes(8).toString('hex')}`, `usr_${randomBytes(8).toString('hex')}`];
  const reachable = clientFor(urls.users!);
  // The real users, sent records with a field its AuditEventInput does not have (as an older users
  // would get from a newer recorder): Apollo refuses the variables with BAD_USER_INPUT, no record named.
  let usersKnowsTheField = false;
  const client: ServiceClient = {
    request(target, query, variables, options) {
      const events = (variables?.events as Record<string, unknown>[] | undefined) ?? [];
      const sent = usersKnowsTheField ? variables : { ...variables, events: events.map((event) => ({ ...event, addedLater: true })) };
      return reachable.request(target, query, sent, options);
    },
  };
  const relay = createOutboxAuditRecorder({ source: SOURCE, query: auth.query, client, logger, retryMs: 50 });
  for (const subject of subjects) await relay.record({}, { type: 'auth.login', actorId: subject, subjectId: subject, outcome: 'SUCCESS' });
  await expect(relay.flush()).rejects.toThrow(/BAD_USER_INPUT/);
  expect((await waiting()).map((row) => row.subject_id).filter((subject) => subjects.includes(subject))).toEqual(subjects);
  usersKnowsTheField = true;
  expect(await relay.flush()).toBe(2);
  for (const subject of subjects) expect((await inTrail(subject)).map((record) => record.type)).toEqual(['auth.login']);
});

test('stop() ends a pass in flight after its current batch: a backlog and a slow users do not hold up shutdown', async () => {
  const subject = `usr_${randomBytes(8).toString('hex')}`;
  const reachable = clientFor(urls.users!);
  const CALL_MS = 400;
  const client: ServiceClient = {
    async request(...args) {
      await sleep(CALL_MS);
      return reachable.request(...args);
    },
  };
  // 200 records: 10 batches of 20, at least 4 s of calls to this slow users.
  const writer = recorder('http://127.0.0.1:1/graphql');
  for (let index = 0; index < 200; index += 1) await writer.record({}, { type: 'auth.login', actorId: subject, subjectId: subject, outcome: 'SUCCESS', details: { index } });
  const relay = createOutboxAuditRecorder({ source: SOURCE, query: auth.query, client, logger, retryMs: 50 });
  relay.start();
  await sleep(CALL_MS / 2);
  const stopping = Date.now();
  await relay.stop();
  expect(Date.now() - stopping).toBeLessThan(4 * CALL_MS);
  // What was not sent waits in the table, and the next relay sends all of it, once.
  const left = (await waiting()).filter((row) => row.subject_id === subject).length;
  expect(left).toBeGreaterThan(0);
  let sent = 0;
  for (let pass = 0; pass < 20 && sent < left; pass += 1) sent += await recorder(urls.users!).flush();
  expect((await inTrail(subject)).length).toBe(200);
});

test('a record relayed after an outage keeps the time it was written, not the time users received it', async () => {
  const subject = `usr_${randomBytes(8).toString('hex')}`;
  const down = recorder('http://127.0.0.1:1/graphql');
  const writtenFrom = Date.now();
  await down.record({}, { type: 'auth.login', actorId: subject, subjectId: subject, outcome: 'SUCCESS' });
  const writtenBy = Date.now();
  await expect(down.flush()).rejects.toThrow();
  // Users "comes back" well after the write.
  await sleep(1_200);
  const relayedFrom = Date.now();
  expect(await recorder(urls.users!).flush()).toBe(1);
  const [at] = await occurredAt(subject);
  expect(at).toBeGreaterThanOrEqual(writtenFrom - 5);
  expect(at).toBeLessThanOrEqual(writtenBy + 5);
  expect(at).toBeLessThan(relayedFrom - 1_000);

  // A time in the future (a skewed clock where the record was written) is stored as now, never later.
  const future = `usr_${randomBytes(8).toString('hex')}`;
  await auth.query(`insert into ${SOURCE}.audit_outbox (id, type, actor_id, subject_id, outcome, created_at) values ($1, 'auth.login', $2, $2, 'SUCCESS', now() + interval '1 hour')`, [`aud_${randomBytes(10).toString('hex')}`, future]);
  expect(await recorder(urls.users!).flush()).toBe(1);
  const [clamped] = await occurredAt(future);
  expect(clamped).toBeLessThanOrEqual(Date.now() + 1_000);
});

test('while users is down, new records wait for the retry: no call to users per record', async () => {
  const subjects = Array.from({ length: 10 }, () => `usr_${randomBytes(8).toString('hex')}`);
  const unreachable = clientFor('http://127.0.0.1:1/graphql');
  const reachable = clientFor(urls.users!);
  let usersUp = false;
  let calls = 0;
  const client: ServiceClient = {
    request(...args) {
      calls += 1;
      return (usersUp ? reachable : unreachable).request(...args);
    },
  };
  const warn = vi.spyOn(logger, 'warn');
  const retryMs = 1_500;
  const relay = createOutboxAuditRecorder({ source: SOURCE, query: auth.query, client, logger, retryMs });
  relay.start();
  try {
    const started = Date.now();
    // Ten logins while users is down, each recorded without a transaction (each asks for a pass).
    for (const subject of subjects) {
      await relay.record({}, { type: 'auth.login', actorId: subject, subjectId: subject, outcome: 'SUCCESS' });
      await sleep(30);
    }
    await sleep(200);
    expect(Date.now() - started).toBeLessThan(retryMs);
    // Within the first retry delay: the first pass's call (and at most one more), not one per record.
    expect(calls).toBeLessThanOrEqual(2);
    expect(warn.mock.calls.length).toBeLessThanOrEqual(2);
    // Users is back: the retry timer's pass sends every waiting record.
    usersUp = true;
    await expect.poll(async () => (await Promise.all(subjects.map(inTrail))).flat().length, { timeout: 10_000 }).toBe(subjects.length);
    expect(calls).toBeLessThanOrEqual(4);
  } finally {
    warn.mockRestore();
    await relay.stop();
  }
});
