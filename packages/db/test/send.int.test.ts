// `send` in a transaction (raw.ts): a statement whose answer nobody waits for still runs in order,
// commits with the transaction, and its failure fails and rolls back the whole transaction, also
// when it is the last statement before COMMIT (PostgreSQL answers that COMMIT with ROLLBACK, not
// an error). On embedded PGlite by default; on PostgreSQL with DATABASE_URL (CI runs both).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServiceDatabase, resolveDatabaseTarget, type ServiceDatabase } from '@paygraph/db';

let database: ServiceDatabase<Record<string, never>>;
const table = `send_test_${process.pid}`;

beforeAll(async () => {
  database = await openServiceDatabase({
    service: 'send_test',
    target: resolveDatabaseTarget('send_test', process.env, 'memory://', 4),
    schema: {},
    migrationsFolder: path.join(import.meta.dirname, 'fixtures/migrations'),
  });
  await database.query(`create table if not exists ${table} (id text primary key, n integer not null check (n >= 0))`);
});

afterAll(async () => {
  await database?.query(`drop table if exists ${table}`);
  await database?.close();
});

const ids = async (prefix: string) => (await database.query<{ id: string }>(`select id from ${table} where id like $1 order by id`, [`${prefix}%`])).map((row) => row.id);

describe('send in a transaction', () => {
  it('runs before what follows and commits with the transaction', async () => {
    const seen = await database.transaction(async (sql) => {
      sql.send!(`insert into ${table} (id, n) values ($1, 1)`, ['ok-a']);
      sql.send!(`insert into ${table} (id, n) values ($1, 2)`, ['ok-b']);
      return (await sql.query<{ count: string }>(`select count(*)::text as count from ${table} where id like 'ok-%'`))[0]!.count;
    });
    expect(seen).toBe('2');
    expect(await ids('ok-')).toEqual(['ok-a', 'ok-b']);
  });

  it('fails and rolls back the transaction when the last statement before COMMIT fails', async () => {
    const outcome = await database
      .transaction(async (sql) => {
        await sql.query(`insert into ${table} (id, n) values ($1, 1)`, ['last-a']);
        sql.send!(`insert into ${table} (id, n) values ($1, -1)`, ['last-b']); // violates the check
        return 'returned';
      })
      .then(
        (value) => ({ value }),
        (error: { code?: string }) => ({ error: error.code }),
      );
    expect(outcome).toEqual({ error: '23514' }); // check_violation
    expect(await ids('last-')).toEqual([]);
  });

  it('fails the transaction with the sent statement\'s error when a later statement runs into it', async () => {
    const outcome = await database
      .transaction(async (sql) => {
        sql.send!(`insert into ${table} (id, n) values ($1, -1)`, ['mid-a']);
        await sql.query(`insert into ${table} (id, n) values ($1, 1)`, ['mid-b']);
        return 'returned';
      })
      .then(
        (value) => ({ value }),
        (error: { code?: string }) => ({ error: error.code }),
      );
    expect(outcome).toEqual({ error: '23514' });
    expect(await ids('mid-')).toEqual([]);
  });
});
