// Proves the inbox's retention on the notifications schema (PGlite, or PostgreSQL of this file's
// own with DATABASE_URL), as the service runs it (pruneInbox with EVENT_RETENTION_SECONDS): the
// processed-event ids older than the retention are forgotten, the newer ones stay, whichever
// consumer recorded them, and an event still inside the retention is still applied only once.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { applyOnce, pruneInbox } from '@paygraph/events';
import { schema } from '../src/db/schema';
import { migrationsFolder } from '../src/server';
import { isolatedDatabase } from './support';

let database: ServiceDatabase<typeof schema>;
let drop: () => Promise<void>;

beforeAll(async () => {
  const own = await isolatedDatabase('inbox_retention');
  drop = own.drop;
  database = await openServiceDatabase({
    service: 'notifications',
    target: own.url ? { kind: 'postgres', url: own.url, poolMax: 2 } : { kind: 'pglite', dataDir: 'memory://inbox-retention' },
    schema,
    migrationsFolder,
  });
});

afterAll(async () => {
  await database?.close();
  await drop?.();
});

const HOUR = 3_600;

/** Records `eventId` as processed by `consumer`, `ageSeconds` ago. */
async function processed(consumer: string, eventId: string, ageSeconds: number): Promise<void> {
  await database.query(`insert into notifications.processed_events (consumer, event_id, processed_at) values ($1, $2, now() - make_interval(secs => $3::integer))`, [
    consumer,
    eventId,
    String(ageSeconds),
  ]);
}

const remaining = async (ids: string[]) =>
  (await database.query<{ event_id: string }>(`select event_id from notifications.processed_events where event_id = any(string_to_array($1, ',')) order by event_id`, [ids.join(',')])).map(
    (row) => row.event_id,
  );

it('forgets processed event ids older than the retention and keeps the newer ones, for every consumer', async () => {
  const tag = randomBytes(4).toString('hex');
  const id = (name: string) => `evt_${tag}_${name}`;
  await processed('notifications', id('a_old'), 2 * HOUR);
  await processed('notifications', id('b_old'), 25 * HOUR);
  await processed('webhooks', id('c_old'), HOUR + 60);
  await processed('notifications', id('d_new'), HOUR - 60);
  await processed('notifications', id('e_new'), 0);
  await processed('webhooks', id('f_new'), 10);
  const all = ['a_old', 'b_old', 'c_old', 'd_new', 'e_new', 'f_new'].map(id);

  expect(await pruneInbox(database.query, 'notifications', HOUR)).toBe(3);
  expect(await remaining(all)).toEqual([id('d_new'), id('e_new'), id('f_new')]);
  // Nothing more is older than the retention.
  expect(await pruneInbox(database.query, 'notifications', HOUR)).toBe(0);
  expect(await remaining(all)).toEqual([id('d_new'), id('e_new'), id('f_new')]);

  // An event inside the retention delivered again still finds its id: its effect is not applied twice.
  let applied = 0;
  const again = await applyOnce(database.transaction, 'notifications', 'notifications', { id: id('d_new') }, async () => {
    applied += 1;
  });
  expect(again).toBe(false);
  expect(applied).toBe(0);
});

it('refuses a schema name that is not an identifier (it is written into the statement)', async () => {
  await expect(pruneInbox(database.query, 'notifications; drop table x', HOUR)).rejects.toThrow(/Invalid schema name/);
});
