// The hand-written SQL path on PGlite as named statements (pglite-statements.ts): the same rows,
// parameters and errors as PGlite's own query(), each text parsed once per instance, the bound on
// named statements, a table changed under a statement, the transaction runner's guarantees and
// its interleaving with PGlite's own calls, and drizzle on the same statements. PGlite only (the
// module is PGlite's path).
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { bigint, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { PGLITE_STATEMENTS_MAX, PgliteStatements, pgliteForDrizzle, pgliteRunners, pgliteStatements } from '../src/pglite-statements';

let client: PGlite;
let statements: PgliteStatements;
let runners: ReturnType<typeof pgliteRunners>;
let counted = 0;

beforeAll(async () => {
  client = await PGlite.create('memory://pglite-statements');
  await client.exec(`
    create table items (
      id text primary key,
      amount bigint not null check (amount >= 0),
      at timestamptz,
      doc jsonb,
      tags text[],
      flag boolean,
      ratio numeric(10, 4),
      ref uuid,
      raw bytea
    )`);
  statements = pgliteStatements(client);
  runners = pgliteRunners(client, () => void (counted += 1));
});

afterAll(async () => {
  await client?.close();
});

const insert = `insert into items (id, amount, at, doc, tags, flag, ratio, ref, raw) values ($1, $2::bigint, $3, $4, $5, $6, $7, $8, $9) returning *`;

describe('named statements on PGlite', () => {
  it('binds parameters and returns rows exactly as query() does, for every kind of value', async () => {
    const values = (id: string) => [
      id,
      '9007199254740993', // beyond a double: text both ways
      new Date('2026-12-01T10:20:30.456Z'),
      { nested: { list: [1, 'two', null] }, quote: `it's "quoted"` },
      ['a', 'b,c', 'd"e', null],
      true,
      '12.3456',
      '6f1a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      new Uint8Array([0, 1, 254, 255]),
    ];
    const ours = await runners.query<Record<string, unknown>>(insert, values('ours'));
    const theirs = (await client.query<Record<string, unknown>>(insert, values('theirs'))).rows;
    expect(ours).toHaveLength(1);
    expect({ ...ours[0], id: 'x' }).toEqual({ ...theirs[0], id: 'x' });
    expect(ours[0]!.amount).toBe(theirs[0]!.amount);
    expect(ours[0]!.at).toEqual(new Date('2026-12-01T10:20:30.456Z'));
    // Read back by the other path: what each wrote is the same.
    const select = `select * from items where id = $1`;
    expect(await runners.query(select, ['theirs'])).toEqual((await client.query(select, ['theirs'])).rows);
    expect(await runners.query(select, ['ours'])).toEqual((await client.query(select, ['ours'])).rows);
    // Nulls, no rows, and a statement without a result.
    expect(await runners.query(`select $1::text as a, $2::bigint as b`, [null, undefined])).toEqual([{ a: null, b: null }]);
    expect(await runners.query(select, ['nobody'])).toEqual([]);
    expect(await runners.query(`update items set flag = $2 where id = $1`, ['ours', false])).toEqual([]);
    expect((await client.query<{ flag: boolean }>(select, ['ours'])).rows[0]!.flag).toBe(false);
  });

  it('parses a text once per instance and runs it by name from then on', async () => {
    const text = `select count(*)::int as n from items where amount >= $1::bigint`;
    const before = statements.size;
    for (let i = 0; i < 12; i++) expect(await runners.query(text, ['0'])).toEqual([{ n: 2 }]);
    expect(statements.size).toBe(before + 1);
    // One instance, one set of names: a second runner on it shares them.
    expect(pgliteStatements(client)).toBe(statements);
    const prepared = (await client.query<{ name: string; statement: string }>(`select name, statement from pg_prepared_statements where statement = $1`, [text])).rows;
    expect(prepared).toHaveLength(1);
    expect(prepared[0]!.name).toMatch(/^paygraph_[0-9a-f]{8}_\d+$/);
  });

  it('names a text on its second run only: a one-off text takes no name', async () => {
    const text = `select $1::text || 'once' as t`;
    const size = statements.size;
    expect(await runners.query(text, ['a'])).toEqual([{ t: 'aonce' }]);
    expect(statements.size).toBe(size);
    expect((await client.query(`select 1 from pg_prepared_statements where statement = $1`, [text])).rows).toHaveLength(0);
    expect(await runners.query(text, ['b'])).toEqual([{ t: 'bonce' }]);
    expect(statements.size).toBe(size + 1);
  });

  it('keeps the names of a second copy of the module apart on the same instance', async () => {
    vi.resetModules();
    const copy = (await import('../src/pglite-statements')) as typeof import('../src/pglite-statements');
    expect(copy.pgliteStatements).not.toBe(pgliteStatements);
    const other = copy.pgliteRunners(client, () => {});
    for (const input of [1, 2, 3]) expect(await other.query(`select $1::int * 10 as n`, [input])).toEqual([{ n: input * 10 }]);
    expect(copy.pgliteStatements(client).size).toBe(1);
  });

  it('prepares a text once when its first runs are concurrent', async () => {
    const text = `select $1::int + 1 as n`;
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => runners.query<{ n: number }>(text, [i])));
    expect(results.map((rows) => rows[0]!.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await client.query(`select 1 from pg_prepared_statements where statement = $1`, [text])).rows).toHaveLength(1);
  });

  it('throws PGlite errors with their SQLSTATE, keeps no failed text and goes on serving', async () => {
    const size = statements.size;
    await expect(runners.query(`selec nothing`, [])).rejects.toMatchObject({ code: '42601' });
    expect(statements.size).toBe(size);
    await expect(runners.query(`select $1::bigint as n`, ['not a number'])).rejects.toMatchObject({ code: '22P02' });
    await expect(runners.query(insert, ['ours', '1', null, null, null, null, null, null, null])).rejects.toMatchObject({ code: '23505', constraint: 'items_pkey' });
    await expect(runners.query(`select $1::int as n`, [1, 2])).rejects.toThrow(/supplies 2 parameters, but the statement requires 1/);
    expect(await runners.query(`select $1::int as n`, [5])).toEqual([{ n: 5 }]);
  });

  it('parses again a statement whose table changed the shape of its rows', async () => {
    await client.exec(`create table shapes (id int primary key); insert into shapes values (1)`);
    const text = `select * from shapes where id = $1::int`;
    const size = statements.size;
    for (let run = 0; run < 2; run++) expect(await runners.query(text, [1])).toEqual([{ id: 1 }]);
    expect(statements.size).toBe(size + 1);
    await client.exec(`alter table shapes add column label text default 'one'`);
    // That one run fails as it would on postgres.js; the next parses the text again.
    await expect(runners.query(text, [1])).rejects.toMatchObject({ code: '0A000' });
    expect(await runners.query(text, [1])).toEqual([{ id: 1, label: 'one' }]);
  });

  it(`runs texts beyond ${PGLITE_STATEMENTS_MAX} unnamed, parsed each time`, async () => {
    const own = new PgliteStatements(client);
    const run = (text: string, params: unknown[]) => client._runExclusiveTransaction(() => client._runExclusiveQuery(() => own.run<{ n: number }>(text, params)));
    // A text is named on its second run.
    for (let i = 0; i < PGLITE_STATEMENTS_MAX + 3; i++) {
      for (const input of [1, 2]) expect(await run(`select $1::int + ${i} as n`, [input])).toEqual([{ n: input + i }]);
    }
    expect(own.size).toBe(PGLITE_STATEMENTS_MAX);
    // An unnamed text still binds its own parameters, run after run.
    const beyond = `select $1::int + ${PGLITE_STATEMENTS_MAX + 1} as n`;
    expect(await run(beyond, [2])).toEqual([{ n: 3 + PGLITE_STATEMENTS_MAX }]);
    expect(await run(`select $1::text as t`, ['x'])).toEqual([{ t: 'x' }]);
    expect(own.size).toBe(PGLITE_STATEMENTS_MAX);
  });
});

describe('the transaction runner on named statements', () => {
  it('commits every statement, sent or awaited, and counts each', async () => {
    const start = counted;
    const seen = await runners.transaction(async (sql) => {
      sql.send!(`insert into items (id, amount) values ($1, $2::bigint)`, ['tx-a', '1']);
      sql.send!(`insert into items (id, amount) values ($1, $2::bigint)`, ['tx-b', '2']);
      return (await sql.query<{ n: string }>(`select sum(amount)::text as n from items where id like 'tx-%'`))[0]!.n;
    });
    expect(seen).toBe('3');
    expect(counted - start).toBe(3);
    expect((await client.query(`select id from items where id like 'tx-%' order by id`)).rows).toEqual([{ id: 'tx-a' }, { id: 'tx-b' }]);
  });

  it('rolls back everything when a sent statement fails, reporting that failure', async () => {
    await expect(
      runners.transaction(async (sql) => {
        sql.send!(`insert into items (id, amount) values ($1, $2::bigint)`, ['tx-c', '1']);
        sql.send!(`insert into items (id, amount) values ($1, $2::bigint)`, ['tx-d', '-1']);
        await sql.query(`select 1`);
      }),
    ).rejects.toMatchObject({ code: '23514' });
    expect((await client.query(`select id from items where id in ('tx-c', 'tx-d')`)).rows).toEqual([]);
  });

  it('refuses a statement after its transaction ended', async () => {
    let kept: Parameters<Parameters<typeof runners.transaction>[0]>[0] | undefined;
    await runners.transaction(async (sql) => {
      kept = sql;
    });
    await expect(kept!.query(`select 1`)).rejects.toThrow(/Transaction is closed/);
  });

  it('isolates a transaction from PGlite calls made meanwhile, which run after it', async () => {
    const order: string[] = [];
    let outside: Promise<unknown> | undefined;
    await runners.transaction(async (sql) => {
      await sql.query(`insert into items (id, amount) values ($1, $2::bigint)`, ['tx-e', '5']);
      outside = client.query<{ n: string }>(`select count(*)::text as n from items where id = 'tx-e'`).then((result) => order.push(`outside saw ${result.rows[0]!.n}`));
      await sql.query(`update items set amount = amount + 1 where id = $1`, ['tx-e']);
      order.push('transaction done');
    });
    await outside;
    expect(order).toEqual(['transaction done', 'outside saw 1']);
    expect(await runners.query(`select amount::text as amount from items where id = $1`, ['tx-e'])).toEqual([{ amount: '6' }]);
  });
});

describe('drizzle on named statements', () => {
  const notes = pgTable('notes', {
    id: text('id').primaryKey(),
    amount: bigint('amount', { mode: 'bigint' }).notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
  });
  const ours = () => drizzle(pgliteForDrizzle(client), { schema: { notes } });
  const theirs = () => drizzle(client, { schema: { notes } });

  beforeAll(async () => {
    await client.exec(`create table notes (id text primary key, amount bigint not null, at timestamptz not null)`);
  });

  it('reads and writes what drizzle on PGlite itself reads and writes, rows as arrays and objects', async () => {
    const at = new Date('2026-12-01T08:09:10.123Z');
    await ours().insert(notes).values({ id: 'n1', amount: 9007199254740993n, at });
    await theirs().insert(notes).values({ id: 'n2', amount: 9007199254740993n, at });
    for (const id of ['n1', 'n2']) {
      const a = await ours().select().from(notes).where(eq(notes.id, id));
      const b = await theirs().select().from(notes).where(eq(notes.id, id));
      expect(a).toEqual(b);
      expect(a).toEqual([{ id, amount: 9007199254740993n, at }]);
      // The relational API (objects, drizzle's own parsers) and raw execute().
      expect(await ours().query.notes.findFirst({ where: eq(notes.id, id) })).toEqual(await theirs().query.notes.findFirst({ where: eq(notes.id, id) }));
      expect((await ours().execute(sql`select id, at from notes where id = ${id}`)).rows).toEqual((await theirs().execute(sql`select id, at from notes where id = ${id}`)).rows);
    }
  });

  it('commits a drizzle transaction and rolls one back, savepoints included, on the same statements', async () => {
    const db = ours();
    await db.transaction(async (tx) => {
      await tx.insert(notes).values({ id: 'n3', amount: 1n, at: new Date() });
      await expect(
        tx.transaction(async (nested) => {
          await nested.insert(notes).values({ id: 'n4', amount: 1n, at: new Date() });
          nested.rollback();
        }),
      ).rejects.toThrow();
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.insert(notes).values({ id: 'n5', amount: 1n, at: new Date() });
        await tx.insert(notes).values({ id: 'n3', amount: 2n, at: new Date() }); // duplicate key
      }),
    ).rejects.toMatchObject({ cause: { code: '23505' } });
    expect((await client.query(`select id from notes where id in ('n3', 'n4', 'n5') order by id`)).rows).toEqual([{ id: 'n3' }]);
    // drizzle's statements went through the named ones: its insert text is prepared.
    const prepared = (await client.query<{ statement: string }>(`select statement from pg_prepared_statements where statement like 'insert into "notes"%'`)).rows;
    expect(prepared.length).toBeGreaterThan(0);
  });

  it("hands a query with an option it does not honour to PGlite's own query(), in and out of a transaction", async () => {
    const facade = pgliteForDrizzle(client);
    const text = `select $1 as v, pg_typeof($1)::text as t`;
    // paramTypes: INT4 makes $1 an integer, which the named path (types described by the backend) would not.
    const alone = await facade.query<{ v: unknown; t: string }>(text, [7], { paramTypes: [23] });
    expect(alone.rows).toEqual([{ v: 7, t: 'integer' }]);
    const inside = await facade.transaction((tx) => tx.query<{ v: unknown; t: string }>(text, [8], { paramTypes: [23] }));
    expect(inside.rows).toEqual([{ v: 8, t: 'integer' }]);
    // Run twice, yet never named: it did not go through the named statements.
    expect((await client.query(`select 1 from pg_prepared_statements where statement = $1`, [text])).rows).toHaveLength(0);
  });

  it("leaves every other member of the instance PGlite's own", async () => {
    const facade = pgliteForDrizzle(client);
    expect(facade.closed).toBe(false);
    expect((await facade.exec(`select 1 as one`))[0]!.rows).toEqual([{ one: 1 }]);
  });
});
