/**
 * What the ledger's own tables say, read directly after a scenario (the API exposes no system
 * account balance): per currency, the cached balances of all accounts (system accounts included)
 * and the entries each sum to zero; no user wallet is below zero. PostgreSQL is read while the
 * platform runs; an embedded PGlite folder only once the platform has stopped (one opener at a time).
 */
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';

export type LedgerTarget = { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string };

export interface LedgerFacts {
  /** Per currency: sum over every account of posted credits minus posted debits, and the same from the entries. */
  sums: { currency: string; accounts: bigint; entries: bigint }[];
  /** User wallets whose posted balance or available amount is below zero. */
  negativeWallets: { id: string; balance: bigint; available: bigint }[];
  /** Idempotency keys carried by more than one ledger transaction or hold. */
  duplicateKeys: string[];
  userWallets: number;
}

const SUMS = `
  select currency, sum(accounts)::text as accounts, sum(entries)::text as entries from (
    select currency, posted_credits - posted_debits as accounts, 0::bigint as entries from ledger.accounts
    union all
    select currency, 0::bigint, case direction when 'CREDIT' then amount else -amount end from ledger.entries
  ) as movements group by currency order by currency`;
const NEGATIVE = `
  select id, (posted_credits - posted_debits)::text as balance, (posted_credits - posted_debits - pending_debits)::text as available
  from ledger.accounts where kind = 'USER_WALLET' and (posted_credits - posted_debits < 0 or posted_credits - posted_debits - pending_debits < 0)`;
const DUPLICATES = `
  select idempotency_key from (
    select idempotency_key from ledger.transactions union all select idempotency_key from ledger.holds
  ) as keyed group by idempotency_key having count(*) > 1 limit 20`;
const USER_WALLETS = `select count(*)::int as count from ledger.accounts where kind = 'USER_WALLET'`;

type Row = Record<string, any>;

export async function readLedgerFacts(target: LedgerTarget): Promise<LedgerFacts> {
  let run: (sql: string) => Promise<Row[]>;
  let close: () => Promise<void>;
  if (target.kind === 'postgres') {
    const sql = postgres(target.url, { max: 1, onnotice: () => undefined });
    run = async (text) => [...(await sql.unsafe(text))];
    close = () => sql.end({ timeout: 5 });
  } else {
    const database = await PGlite.create(path.join(target.dataDir, 'pglite'));
    run = async (text) => (await database.query<Row>(text)).rows;
    close = () => database.close();
  }
  try {
    const sums = (await run(SUMS)).map((row) => ({ currency: row.currency as string, accounts: BigInt(row.accounts), entries: BigInt(row.entries) }));
    const negativeWallets = (await run(NEGATIVE)).map((row) => ({ id: row.id as string, balance: BigInt(row.balance), available: BigInt(row.available) }));
    const duplicateKeys = (await run(DUPLICATES)).map((row) => row.idempotency_key as string);
    const userWallets = Number((await run(USER_WALLETS))[0]!.count);
    return { sums, negativeWallets, duplicateKeys, userWallets };
  } finally {
    await close();
  }
}
