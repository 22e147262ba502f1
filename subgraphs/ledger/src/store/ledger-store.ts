/**
 * The only place with SQL for the ledger. Every posting runs in one database transaction:
 * idempotency key first (a concurrent duplicate waits on the unique index, then replays), entries,
 * then the touched accounts updated in ascending id order (one lock order: no deadlocks) with the
 * balance guard in the UPDATE itself, and last the hash chain head (held only until commit).
 */
import { and, asc, desc, eq, gte, inArray, lt, lte, sql } from 'drizzle-orm';
import { ErrorCode, apiError, badUserInput, invalidState, notFound } from '@paygraph/errors';
import { isCheckViolation, newId, retryOnConflict, rowsOf, type Database } from '@paygraph/db';
import { accounts, entries, holds, transactions, type AccountRow, type EntryRow, type HoldRow, type TransactionRow, type schema } from '../db/schema';
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
const keyReused = () =>
  apiError(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'This idempotency key was already used with different parameters.', { field: 'input.idempotencyKey' });

/** What never changes about an account, cached so the hot path does not read it again. */
interface AccountFacts {
  id: string;
  kind: AccountKind;
  ownerId: string;
  currency: string;
  guarded: boolean;
}

export function createLedgerStore(db: Db) {
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
  async function applyDeltas(tx: Tx, deltas: Map<string, AccountDelta>): Promise<void> {
    for (const accountId of [...deltas.keys()].sort()) {
      const delta = deltas.get(accountId)!;
      try {
        const updated = await tx
          .update(accounts)
          .set({
            postedDebits: sql`${accounts.postedDebits} + ${delta.postedDebits}`,
            postedCredits: sql`${accounts.postedCredits} + ${delta.postedCredits}`,
            pendingDebits: sql`${accounts.pendingDebits} + ${delta.pendingDebits}`,
            pendingCredits: sql`${accounts.pendingCredits} + ${delta.pendingCredits}`,
          })
          .where(
            and(
              eq(accounts.id, accountId),
              sql`(not ${accounts.guarded} or ${accounts.postedCredits} + ${delta.postedCredits} - ${accounts.postedDebits} - ${delta.postedDebits} - ${accounts.pendingDebits} - ${delta.pendingDebits} >= 0)`,
            ),
          )
          .returning({ id: accounts.id });
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

  /** Advances the chain head (locking it until commit) and stamps the transaction with it. */
  async function chain(tx: Tx, transaction: TransactionRow, lines: ReadonlyArray<PostingLine & { id: string }>): Promise<TransactionRow> {
    const payload = chainPayload(transaction, lines);
    const [stamped] = rowsOf<{ sequence: string; hash: string }>(
      await tx.execute(sql`
        with head as (
          update ledger.chain_head
             set sequence = sequence + 1,
                 hash = encode(sha256(decode(hash, 'hex') || convert_to(${payload}, 'UTF8')), 'hex')
           where id = 1
       returning sequence, hash)
        update ledger.transactions t set sequence = head.sequence, hash = head.hash
          from head where t.id = ${transaction.id}
        returning t.sequence::text as sequence, t.hash`),
    );
    return { ...transaction, sequence: BigInt(stamped!.sequence), hash: stamped!.hash };
  }

  async function insertPosting(
    tx: Tx,
    transaction: TransactionRow,
    lines: readonly PostingLine[],
    deltas: Map<string, AccountDelta>,
  ): Promise<{ transaction: TransactionRow; entries: EntryRow[] }> {
    const entryRows = lines.map((line) => ({ id: newId('len'), transactionId: transaction.id, ...line }));
    const inserted = await tx.insert(entries).values(entryRows).returning();
    await applyDeltas(tx, deltas);
    return { transaction: await chain(tx, transaction, entryRows), entries: inserted };
  }

  /** The earlier result of an idempotency key, or IDEMPOTENCY_KEY_REUSED when its request differs. */
  async function replayTransaction(executor: Db | Tx, idempotencyKey: string, hash: string): Promise<PostedTransaction> {
    const [existing] = await executor.select().from(transactions).where(eq(transactions.idempotencyKey, idempotencyKey));
    if (!existing || existing.requestHash !== hash) throw keyReused();
    const rows = await executor.select().from(entries).where(eq(entries.transactionId, existing.id)).orderBy(asc(entries.position));
    return { transaction: existing, entries: rows, replayed: true };
  }

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

    async accountsOfOwner(ownerId: string): Promise<AccountRow[]> {
      return db.select().from(accounts).where(eq(accounts.ownerId, ownerId));
    },

    /** Posts a balanced journal transaction (validated by the caller) exactly once per key. */
    async postTransaction(input: { idempotencyKey: string; description: string | null; lines: readonly PostingLine[] }): Promise<PostedTransaction> {
      const hash = requestHash('post', { description: input.description, lines: input.lines });
      await assertAccounts(db, input.lines, 'input.entries');
      return retryOnConflict(() =>
        db.transaction(async (tx) => {
          const [created] = await tx
            .insert(transactions)
            .values({ id: newId('ltx'), idempotencyKey: input.idempotencyKey, requestHash: hash, kind: 'TRANSFER', description: input.description })
            .onConflictDoNothing({ target: transactions.idempotencyKey })
            .returning();
          if (!created) return replayTransaction(tx, input.idempotencyKey, hash);
          return { ...(await insertPosting(tx, created, input.lines, linesToDeltas(input.lines))), replayed: false };
        }),
      );
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
      return retryOnConflict(() =>
        db.transaction(async (tx) => {
          const [hold] = await tx
            .insert(holds)
            .values({ id: newId('hld'), idempotencyKey, requestHash: hash, ...parameters, status: 'PENDING' })
            .onConflictDoNothing({ target: holds.idempotencyKey })
            .returning();
          if (!hold) {
            const [existing] = await tx.select().from(holds).where(eq(holds.idempotencyKey, idempotencyKey));
            if (!existing || existing.requestHash !== hash) throw keyReused();
            return { hold: existing, replayed: true };
          }
          const deltas = new Map<string, AccountDelta>([
            [input.debitAccountId, { ...zeroDelta(), pendingDebits: input.amount }],
            [input.creditAccountId, { ...zeroDelta(), pendingCredits: input.amount }],
          ]);
          await applyDeltas(tx, deltas);
          return { hold, replayed: false };
        }),
      );
    },

    /** Posts all or part of a pending hold; the rest is released. */
    async capture(input: { holdId: string; amount: bigint | null; idempotencyKey: string }): Promise<{ hold: HoldRow; posted: PostedTransaction }> {
      return retryOnConflict(() =>
        db.transaction(async (tx) => {
          const [hold] = await tx.select().from(holds).where(eq(holds.id, input.holdId)).for('update');
          if (!hold) throw notFound(`No hold ${input.holdId}`);
          const amount = input.amount ?? hold.amount;
          const hash = requestHash('capture', { holdId: hold.id, amount });
          if (hold.status === 'CAPTURED') {
            if (hold.captureIdempotencyKey !== input.idempotencyKey) throw invalidState(`Hold ${hold.id} is already captured.`);
            return { hold, posted: await replayTransaction(tx, input.idempotencyKey, hash) };
          }
          if (hold.status !== 'PENDING') throw invalidState(`Hold ${hold.id} is ${hold.status.toLowerCase()}; only a pending hold can be captured.`);
          if (hold.expiresAt.getTime() <= Date.now()) throw invalidState(`Hold ${hold.id} has expired.`);
          if (amount <= 0n || amount > hold.amount) throw badUserInput(`The captured amount must be between 1 and the held ${hold.amount}`, 'input.amount');

          const [created] = await tx
            .insert(transactions)
            .values({ id: newId('ltx'), idempotencyKey: input.idempotencyKey, requestHash: hash, kind: 'CAPTURE', holdId: hold.id, description: hold.description })
            .onConflictDoNothing({ target: transactions.idempotencyKey })
            .returning();
          if (!created) throw keyReused();
          const lines: PostingLine[] = [
            { accountId: hold.debitAccountId, direction: 'DEBIT', amount, currency: hold.currency },
            { accountId: hold.creditAccountId, direction: 'CREDIT', amount, currency: hold.currency },
          ];
          const deltas = linesToDeltas(lines);
          deltas.get(hold.debitAccountId)!.pendingDebits -= hold.amount;
          deltas.get(hold.creditAccountId)!.pendingCredits -= hold.amount;
          const posted = await insertPosting(tx, created, lines, deltas);
          const [updated] = await tx
            .update(holds)
            .set({ status: 'CAPTURED', capturedAmount: amount, captureTransactionId: created.id, captureIdempotencyKey: input.idempotencyKey, updatedAt: new Date() })
            .where(eq(holds.id, hold.id))
            .returning();
          return { hold: updated!, posted: { ...posted, replayed: false } };
        }),
      );
    },

    /** Releases a pending hold. Voiding a voided (or expired) hold returns it unchanged. */
    async voidHold(holdId: string, status: 'VOIDED' | 'EXPIRED' = 'VOIDED'): Promise<HoldRow> {
      return retryOnConflict(() =>
        db.transaction(async (tx) => {
          const [hold] = await tx.select().from(holds).where(eq(holds.id, holdId)).for('update');
          if (!hold) throw notFound(`No hold ${holdId}`);
          if (hold.status === 'VOIDED' || hold.status === 'EXPIRED') return hold;
          if (hold.status === 'CAPTURED') throw invalidState(`Hold ${hold.id} is already captured.`);
          await applyDeltas(
            tx,
            new Map([
              [hold.debitAccountId, { ...zeroDelta(), pendingDebits: -hold.amount }],
              [hold.creditAccountId, { ...zeroDelta(), pendingCredits: -hold.amount }],
            ]),
          );
          const [updated] = await tx.update(holds).set({ status, updatedAt: new Date() }).where(eq(holds.id, hold.id)).returning();
          return updated!;
        }),
      );
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

    async holdById(holdId: string): Promise<HoldRow | undefined> {
      const [hold] = await db.select().from(holds).where(eq(holds.id, holdId));
      return hold;
    },

    async transactionWithEntries(transactionId: string): Promise<{ transaction: TransactionRow; entries: EntryRow[] } | undefined> {
      const [transaction] = await db.select().from(transactions).where(eq(transactions.id, transactionId));
      if (!transaction) return undefined;
      const rows = await db.select().from(entries).where(eq(entries.transactionId, transactionId)).orderBy(asc(entries.position));
      return { transaction, entries: rows };
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
