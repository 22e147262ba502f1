/**
 * The only place with SQL for the ledger. Every posting runs in one database transaction:
 * idempotency key first (a concurrent duplicate waits on the unique index, then replays), entries,
 * then the touched accounts updated in ascending id order (one lock order: no deadlocks) with the
 * balance guard in the UPDATE itself, and last the hash chain head (held only until commit).
 */
import { and, asc, desc, eq, gte, inArray, lt, lte } from 'drizzle-orm';
import { ErrorCode, apiError, badUserInput, idempotencyKeyReused, invalidState, notFound } from '@paygraph/errors';
import { isCheckViolation, newId, retryOnConflict, type Database, type RawTransaction, type SqlRunner } from '@paygraph/db';
import { accounts, entries, holds, transactions, type AccountRow, type EntryRow, type HoldRow, type TransactionRow, type schema } from '../db/schema';
import { toEntry, toHold, toTransaction } from './rows';
import { LEDGER_SQL } from './statements';
import { claimOrReplay, replayOrRefuse } from '@paygraph/server';
import { chainPayload, requestHash, type PostingLine } from '../domain/postings';

type Db = Database<typeof schema>;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export type AccountKind = AccountRow['kind'];
export const SYSTEM_OWNER = 'system';

export interface PostedTransaction {
  transaction: TransactionRow;
  entries: EntryRow[];
  replayed: boolean;
}

interface AccountDelta {
  postedDebits: bigint;
  postedCredits: bigint;
  pendingDebits: bigint;
  pendingCredits: bigint;
}

const zeroDelta = (): AccountDelta => ({ postedDebits: 0n, postedCredits: 0n, pendingDebits: 0n, pendingCredits: 0n });

const insufficientFunds = () => apiError(ErrorCode.INSUFFICIENT_FUNDS, 'The account does not have enough available funds.');
const keyReused = () => idempotencyKeyReused();

/** What never changes about an account, cached so the hot path does not read it again. */
interface AccountFacts {
  id: string;
  kind: AccountKind;
  ownerId: string;
  currency: string;
  guarded: boolean;
}

export function createLedgerStore(database: { db: Db; transaction: RawTransaction }) {
  const db = database.db;
  const facts = new Map<string, AccountFacts>();
  const FACTS_CACHED_MAX = 100_000;

  function remember(row: AccountFacts): AccountFacts {
    if (facts.size >= FACTS_CACHED_MAX) facts.clear();
    const fact = { id: row.id, kind: row.kind, ownerId: row.ownerId, currency: row.currency, guarded: row.guarded };
    facts.set(row.id, fact);
    return fact;
  }

  async function accountFacts(executor: Db | Tx, ids: readonly string[]): Promise<Map<string, AccountFacts>> {
    const missing = ids.filter((id) => !facts.has(id));
    if (missing.length > 0) {
      const rows = await executor
        .select({ id: accounts.id, kind: accounts.kind, ownerId: accounts.ownerId, currency: accounts.currency, guarded: accounts.guarded })
        .from(accounts)
        .where(inArray(accounts.id, missing));
      rows.forEach(remember);
    }
    return new Map(ids.flatMap((id) => (facts.has(id) ? [[id, facts.get(id)!] as const] : [])));
  }

  /** Every line's account exists and holds that line's currency. */
  async function assertAccounts(executor: Db | Tx, lines: ReadonlyArray<{ accountId: string; currency: string }>, field: string) {
    const known = await accountFacts(executor, [...new Set(lines.map((line) => line.accountId))]);
    lines.forEach((line, index) => {
      const account = known.get(line.accountId);
      if (!account) throw apiError(ErrorCode.NOT_FOUND, `No ledger account ${line.accountId}`, { field: `${field}.${index}.accountId` });
      if (account.currency !== line.currency) {
        throw badUserInput(`Account ${line.accountId} holds ${account.currency}, not ${line.currency}`, `${field}.${index}.amount.currency`);
      }
    });
  }

  /**
   * Adds the deltas to each account's cached totals, in ascending id order. A guarded account
   * whose credits would fall below its debits (posted and pending) is not updated: the whole
   * transaction fails with INSUFFICIENT_FUNDS.
   */
  async function applyDeltas(sql: SqlRunner, deltas: Map<string, AccountDelta>): Promise<void> {
    for (const accountId of [...deltas.keys()].sort()) {
      const delta = deltas.get(accountId)!;
      try {
        const updated = await sql.query(LEDGER_SQL.applyDelta, [
          accountId,
          delta.postedDebits.toString(),
          delta.postedCredits.toString(),
          delta.pendingDebits.toString(),
          delta.pendingCredits.toString(),
        ]);
        if (updated.length === 0) throw insufficientFunds();
      } catch (error) {
        if (isCheckViolation(error)) throw insufficientFunds();
        throw error;
      }
    }
  }

  function linesToDeltas(lines: readonly PostingLine[], deltas = new Map<string, AccountDelta>()) {
    for (const line of lines) {
      const delta = deltas.get(line.accountId) ?? zeroDelta();
      if (line.direction === 'DEBIT') delta.postedDebits += line.amount;
      else delta.postedCredits += line.amount;
      deltas.set(line.accountId, delta);
    }
    return deltas;
  }

  async function insertEntries(sql: SqlRunner, transactionId: string, lines: ReadonlyArray<PostingLine & { id: string }>): Promise<EntryRow[]> {
    if (lines.length === 2) {
      const [a, b] = lines as [PostingLine & { id: string }, PostingLine & { id: string }];
      const rows = await sql.query(LEDGER_SQL.insertTwoEntries, [a.id, transactionId, a.accountId, a.direction, a.amount.toString(), a.currency, b.id, b.accountId, b.direction, b.amount.toString(), b.currency]);
      return rows.map(toEntry);
    }
    const inserted: EntryRow[] = [];
    for (const line of lines) {
      const [row] = await sql.query(LEDGER_SQL.insertEntry, [line.id, transactionId, line.accountId, line.direction, line.amount.toString(), line.currency]);
      inserted.push(toEntry(row!));
    }
    return inserted;
  }

  /**
   * Entries, account totals, then the hash chain head (held only until commit) for a transaction
   * whose idempotency key was just claimed.
   */
  async function post(sql: SqlRunner, transaction: { id: string; idempotencyKey: string; description: string | null }, lines: readonly PostingLine[], deltas: Map<string, AccountDelta>) {
    const withIds = lines.map((line) => ({ ...line, id: newId('len') }));
    const inserted = await insertEntries(sql, transaction.id, withIds);
    await applyDeltas(sql, deltas);
    const [stamped] = await sql.query(LEDGER_SQL.chain, [transaction.id, chainPayload(transaction, withIds)]);
    return { transaction: toTransaction(stamped!), entries: inserted };
  }

  /** The earlier result of an idempotency key, or IDEMPOTENCY_KEY_REUSED when its request differs. */
  async function replayTransaction(sql: SqlRunner, idempotencyKey: string, hash: string): Promise<PostedTransaction> {
    const [existing] = await sql.query(LEDGER_SQL.transactionByKey, [idempotencyKey]);
    if (!existing) throw keyReused();
    const transaction = replayOrRefuse(toTransaction(existing), hash);
    const rows = await sql.query(LEDGER_SQL.entriesOfTransaction, [transaction.id]);
    return { transaction, entries: rows.map(toEntry), replayed: true };
  }

  const inTransaction = <T>(work: (sql: SqlRunner) => Promise<T>) => retryOnConflict(() => database.transaction(work));

  return {
    /** The account of an owner in a currency, created on first use (safe under concurrency). */
    async ensureAccount(ownerId: string, kind: AccountKind, currency: string): Promise<AccountRow> {
      const guarded = kind === 'USER_WALLET';
      await db.insert(accounts).values({ id: newId('acc'), kind, ownerId, currency, guarded }).onConflictDoNothing();
      const [row] = await db
        .select()
        .from(accounts)
        .where(and(eq(accounts.ownerId, ownerId), eq(accounts.kind, kind), eq(accounts.currency, currency)));
      remember(row!);
      return row!;
    },

    systemAccount(currency: string): Promise<AccountRow> {
      return this.ensureAccount(SYSTEM_OWNER, 'SYSTEM_BANK', currency);
    },

    async accountsByIds(ids: readonly string[]): Promise<AccountRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(accounts).where(inArray(accounts.id, [...ids]));
    },


    /** Posts a balanced journal transaction (validated by the caller) exactly once per key. */
    async postTransaction(input: { idempotencyKey: string; description: string | null; lines: readonly PostingLine[] }): Promise<PostedTransaction> {
      const hash = requestHash('post', { description: input.description, lines: input.lines });
      await assertAccounts(db, input.lines, 'input.entries');
      return inTransaction(async (sql) => {
        const id = newId('ltx');
        const claimed = await sql.query(LEDGER_SQL.insertTransaction, [id, input.idempotencyKey, hash, 'TRANSFER', null, input.description]);
        if (claimed.length === 0) return replayTransaction(sql, input.idempotencyKey, hash);
        const transaction = { id, idempotencyKey: input.idempotencyKey, description: input.description };
        return { ...(await post(sql, transaction, input.lines, linesToDeltas(input.lines))), replayed: false };
      });
    },

    /** Reserves funds: raises the debit account's pending debits (guarded) and the credit account's pending credits. */
    async authorize(input: {
      idempotencyKey: string;
      debitAccountId: string;
      creditAccountId: string;
      amount: bigint;
      currency: string;
      expiresAt: Date;
      description: string | null;
    }): Promise<{ hold: HoldRow; replayed: boolean }> {
      const { idempotencyKey, ...parameters } = input;
      const hash = requestHash('authorize', { ...parameters, expiresAt: undefined });
      await assertAccounts(
        db,
        [
          { accountId: input.debitAccountId, currency: input.currency },
          { accountId: input.creditAccountId, currency: input.currency },
        ],
        'input.accounts',
      );
      if (input.debitAccountId === input.creditAccountId) throw badUserInput('A hold needs two different accounts', 'input.creditAccountId');
      return inTransaction(async (sql) => {
        const outcome = await claimOrReplay({
          hash,
          claim: async () => {
            const [inserted] = await sql.query(LEDGER_SQL.insertHold, [
              newId('hld'),
              idempotencyKey,
              hash,
              input.debitAccountId,
              input.creditAccountId,
              input.amount.toString(),
              input.currency,
              input.description,
              input.expiresAt.toISOString(),
            ]);
            return inserted ? toHold(inserted) : undefined;
          },
          find: async () => {
            const [existing] = await sql.query(LEDGER_SQL.holdByKey, [idempotencyKey]);
            return existing ? toHold(existing) : undefined;
          },
        });
        if (outcome.replayed) return { hold: outcome.existing, replayed: true };
        const inserted = outcome.claimed;
        const deltas = new Map<string, AccountDelta>([
          [input.debitAccountId, { ...zeroDelta(), pendingDebits: input.amount }],
          [input.creditAccountId, { ...zeroDelta(), pendingCredits: input.amount }],
        ]);
        await applyDeltas(sql, deltas);
        return { hold: inserted, replayed: false };
      });
    },

    /** Posts all or part of a pending hold; the rest is released. */
    async capture(input: { holdId: string; amount: bigint | null; idempotencyKey: string }): Promise<{ hold: HoldRow; posted: PostedTransaction }> {
      return inTransaction(async (sql) => {
        const [locked] = await sql.query(LEDGER_SQL.holdForUpdate, [input.holdId]);
        if (!locked) throw notFound(`No hold ${input.holdId}`);
        const hold = toHold(locked);
        const amount = input.amount ?? hold.amount;
        const hash = requestHash('capture', { holdId: hold.id, amount });
        if (hold.status === 'CAPTURED') {
          if (hold.captureIdempotencyKey !== input.idempotencyKey) throw invalidState(`Hold ${hold.id} is already captured.`);
          return { hold, posted: await replayTransaction(sql, input.idempotencyKey, hash) };
        }
        if (hold.status !== 'PENDING') throw invalidState(`Hold ${hold.id} is ${hold.status.toLowerCase()}; only a pending hold can be captured.`);
        if (hold.expiresAt.getTime() <= Date.now()) throw invalidState(`Hold ${hold.id} has expired.`);
        if (amount <= 0n || amount > hold.amount) throw badUserInput(`The captured amount must be between 1 and the held ${hold.amount}`, 'input.amount');

        const id = newId('ltx');
        const claimed = await sql.query(LEDGER_SQL.insertTransaction, [id, input.idempotencyKey, hash, 'CAPTURE', hold.id, hold.description]);
        if (claimed.length === 0) throw keyReused();
        const lines: PostingLine[] = [
          { accountId: hold.debitAccountId, direction: 'DEBIT', amount, currency: hold.currency },
          { accountId: hold.creditAccountId, direction: 'CREDIT', amount, currency: hold.currency },
        ];
        const deltas = linesToDeltas(lines);
        deltas.get(hold.debitAccountId)!.pendingDebits -= hold.amount;
        deltas.get(hold.creditAccountId)!.pendingCredits -= hold.amount;
        const posted = await post(sql, { id, idempotencyKey: input.idempotencyKey, description: hold.description }, lines, deltas);
        const [captured] = await sql.query(LEDGER_SQL.markHoldCaptured, [hold.id, amount.toString(), id, input.idempotencyKey]);
        return { hold: toHold(captured!), posted: { ...posted, replayed: false } };
      });
    },

    /** Releases a pending hold. Voiding a voided (or expired) hold returns it unchanged. */
    async voidHold(holdId: string, status: 'VOIDED' | 'EXPIRED' = 'VOIDED'): Promise<HoldRow> {
      return inTransaction(async (sql) => {
        const [locked] = await sql.query(LEDGER_SQL.holdForUpdate, [holdId]);
        if (!locked) throw notFound(`No hold ${holdId}`);
        const hold = toHold(locked);
        if (hold.status === 'VOIDED' || hold.status === 'EXPIRED') return hold;
        if (hold.status === 'CAPTURED') throw invalidState(`Hold ${hold.id} is already captured.`);
        await applyDeltas(
          sql,
          new Map([
            [hold.debitAccountId, { ...zeroDelta(), pendingDebits: -hold.amount }],
            [hold.creditAccountId, { ...zeroDelta(), pendingCredits: -hold.amount }],
          ]),
        );
        const [released] = await sql.query(LEDGER_SQL.markHoldReleased, [hold.id, status]);
        return toHold(released!);
      });
    },

    /** Releases up to `limit` pending holds whose expiry has passed; returns how many. */
    async expireHolds(now: Date, limit = 100): Promise<number> {
      const due = await db
        .select({ id: holds.id })
        .from(holds)
        .where(and(eq(holds.status, 'PENDING'), lte(holds.expiresAt, now)))
        .orderBy(asc(holds.expiresAt))
        .limit(limit);
      for (const { id } of due) await this.voidHold(id, 'EXPIRED');
      return due.length;
    },

    /** Transactions posted under these idempotency keys, with their entries. */
    async transactionsByKeys(keys: readonly string[]): Promise<PostedTransaction[]> {
      if (keys.length === 0) return [];
      const found = await db.select().from(transactions).where(inArray(transactions.idempotencyKey, [...keys]));
      if (found.length === 0) return [];
      const lines = await db.select().from(entries).where(inArray(entries.transactionId, found.map((row) => row.id))).orderBy(asc(entries.position));
      // Grouped once (a lookup of 500 keys has about 1,000 entries: no scan per transaction).
      const linesOf = new Map<string, EntryRow[]>();
      for (const line of lines) {
        const group = linesOf.get(line.transactionId);
        if (group) group.push(line);
        else linesOf.set(line.transactionId, [line]);
      }
      return found.map((transaction) => ({ transaction, entries: linesOf.get(transaction.id) ?? [], replayed: false }));
    },

    async holdById(holdId: string): Promise<HoldRow | undefined> {
      const [hold] = await db.select().from(holds).where(eq(holds.id, holdId));
      return hold;
    },


    /** Entries of an owner's accounts, newest first, after a position cursor, within a time range. */
    async entriesOfOwner(ownerId: string, options: { start?: Date | null; end?: Date | null; beforePosition?: bigint | null; limit: number }): Promise<EntryRow[]> {
      const ownerAccounts = await db.select({ id: accounts.id }).from(accounts).where(eq(accounts.ownerId, ownerId));
      if (ownerAccounts.length === 0) return [];
      const conditions = [inArray(entries.accountId, ownerAccounts.map((account) => account.id))];
      if (options.start) conditions.push(gte(entries.createdAt, options.start));
      if (options.end) conditions.push(lt(entries.createdAt, options.end));
      if (options.beforePosition) conditions.push(lt(entries.position, options.beforePosition));
      return db
        .select()
        .from(entries)
        .where(and(...conditions))
        .orderBy(desc(entries.position))
        .limit(options.limit);
    },
  };
}

export type LedgerStore = ReturnType<typeof createLedgerStore>;
