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
import { LEDGER_BATCH_SQL, LEDGER_SQL } from './statements';
import { createGroupCommit, type Settlement } from './group-commit';
import { claimOrReplay, replayOrRefuse } from '@paygraph/server';
import { chainHash, chainPayload, requestHash, type PostingLine } from '../domain/postings';

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

/** Postings written in one transaction at most (a batch of 32-line postings stays a few thousand rows). */
export const POSTINGS_PER_BATCH_MAX = 128;
/**
 * Batches written at once by one ledger process. One: a second batch in flight overlaps its key
 * claims with the first one's commit but then waits for the same hot account locks, with smaller
 * batches; measured on 10 hot wallets at 64 clients it posted fewer transfers (726-983/s against
 * 1,131-1,643/s, alternating runs), and no more on uniform load (bench/README.md).
 */
export const POSTING_BATCHES_IN_FLIGHT_MAX = 1;
/** Postings waiting for a batch at most; more are refused as SERVICE_UNAVAILABLE (retried by key). */
export const POSTINGS_WAITING_MAX = 10_000;

interface PostingRequest {
  idempotencyKey: string;
  description: string | null;
  lines: readonly PostingLine[];
  /** The request's hash, stored under its key. */
  hash: string;
  /** Hashes a stored request may have for this one to be its replay (this hash, and the older form). */
  replayHashes: readonly string[];
}

/**
 * A posting's request hash, its lines in a canonical order: the same entries sent in another order
 * are the same request (a replay), as the schema says of "the same content". Keys stored before
 * this hashed the lines as sent, so that form still replays (`replayHashes`).
 */
export function postingHashes(description: string | null, lines: readonly PostingLine[]): { hash: string; replayHashes: string[] } {
  const order = (line: PostingLine) => `${line.accountId}\u0000${line.direction}\u0000${line.currency}\u0000${line.amount.toString().padStart(20, '0')}`;
  const canonical = [...lines].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  const hash = requestHash('post', { description, lines: canonical });
  return { hash, replayHashes: [hash, requestHash('post', { description, lines })] };
}

function settledAll<T>(outcomes: ReadonlyArray<Settlement<T> | undefined>): Array<Settlement<T>> {
  return outcomes.map((outcome, index) => {
    if (!outcome) throw new Error(`Posting ${index} of a batch was left unsettled`);
    return outcome;
  });
}

function groupEntries(rows: readonly EntryRow[]): Map<string, EntryRow[]> {
  const grouped = new Map<string, EntryRow[]>();
  for (const row of rows) {
    const group = grouped.get(row.transactionId);
    if (group) group.push(row);
    else grouped.set(row.transactionId, [row]);
  }
  return grouped;
}

/** A data exception or integrity violation (SQLSTATE class 22 or 23): something about a row, not the database. */
function isCausedByData(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code ?? (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

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
    // Sent together (pipelined on the transaction's connection: one round trip); the server runs
    // them in this order, so accounts are still locked in ascending id order.
    await Promise.all(
      [...deltas.keys()].sort().map(async (accountId) => {
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
      }),
    );
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
    // Sent together, inserted in order.
    const rows = await Promise.all(lines.map((line) => sql.query(LEDGER_SQL.insertEntry, [line.id, transactionId, line.accountId, line.direction, line.amount.toString(), line.currency])));
    return rows.map(([row]) => toEntry(row!));
  }

  /**
   * Account totals, the hash chain head (held until commit), then the entries, for a transaction
   * whose idempotency key was just claimed.
   */
  async function post(sql: SqlRunner, transaction: { id: string; idempotencyKey: string; description: string | null }, lines: readonly PostingLine[], deltas: Map<string, AccountDelta>) {
    const withIds = lines.map((line) => ({ ...line, id: newId('len') }));
    // Totals, the chain link and the entries need nothing from each other's answers: sent together
    // (one round trip), run in this order. The first failure is the transaction's.
    // The entries come after the chain link: their positions are taken while this transaction holds
    // the chain's head, so they are in commit order and a reader paging ledgerEntries by position
    // never sees an entry appear behind one it has passed (found by the ledger probe on PostgreSQL).
    const [, [stamped], inserted] = await Promise.all([applyDeltas(sql, deltas), sql.query(LEDGER_SQL.chain, [transaction.id, chainPayload(transaction, withIds)]), insertEntries(sql, transaction.id, withIds)]);
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

  /**
   * One batch of postings in one transaction: claim every key, replay or refuse the taken ones,
   * lock the touched accounts once (ascending ids), check each posting in arrival order against
   * the locked totals plus the postings before it (a refused one gives its key back and fails
   * alone), then every entry and total in one statement and the hash chain, one link per posting.
   * The outcomes are only handed out after commit.
   */
  async function postBatchIn(sql: SqlRunner, batch: readonly PostingRequest[]): Promise<Array<Settlement<PostedTransaction>>> {
    const outcomes: Array<Settlement<PostedTransaction> | undefined> = batch.map(() => undefined);
    const ids = batch.map(() => newId('ltx'));
    const claimed = await claimKeys(sql, batch, ids, outcomes);
    if (claimed.length === 0) return settledAll(outcomes);
    const { posted, deltas } = await checkAgainstLockedTotals(sql, batch, claimed, ids, outcomes);
    if (posted.length === 0) return settledAll(outcomes);

    const transactions = posted.map((index) => ({ id: ids[index]!, idempotencyKey: batch[index]!.idempotencyKey, description: batch[index]!.description }));
    const linesOf = posted.map((index) => batch[index]!.lines.map((line) => ({ ...line, id: newId('len') })));
    // The chain's head is locked before the entries are written (both sent together, run in this
    // order): entry positions are then taken in commit order, as in `post`.
    const [head, entriesById] = await Promise.all([lockChainHead(sql), writeEntriesAndTotals(sql, transactions, linesOf, deltas)]);
    const stamped = await chainTransactions(sql, head, transactions, linesOf);
    posted.forEach((index, n) => {
      const transaction = stamped.get(transactions[n]!.id);
      if (!transaction) throw new Error(`A batch did not stamp transaction ${transactions[n]!.id}`);
      outcomes[index] = { ok: true, value: { transaction, entries: entriesById.get(transaction.id) ?? [], replayed: false } };
    });
    return settledAll(outcomes);
  }

  /** Claims every key of the batch; settles the postings whose key was taken; returns the claimed ones' indexes. */
  async function claimKeys(sql: SqlRunner, batch: readonly PostingRequest[], ids: readonly string[], outcomes: Array<Settlement<PostedTransaction> | undefined>): Promise<number[]> {
    // Both sent before either is awaited: postgres.js pipelines them (no extra round trip). Awaited
    // together, so when the connection dies both failures are handled: a statement left pending
    // while the other one's failure is thrown would reject unobserved and end the process.
    const [, claimedRows] = await Promise.all([
      sql.query(LEDGER_BATCH_SQL.customPlans),
      sql.query<{ id: string }>(LEDGER_BATCH_SQL.claimTransactions, [
        JSON.stringify(batch.map((posting, index) => ({ id: ids[index], idempotency_key: posting.idempotencyKey, request_hash: posting.hash, description: posting.description }))),
      ]),
    ]);
    const claimedIds = new Set(claimedRows.map((row) => row.id));
    const taken = batch.flatMap((_posting, index) => (claimedIds.has(ids[index]!) ? [] : [index]));
    if (taken.length > 0) await settleTaken(sql, batch, taken, outcomes);
    return batch.flatMap((_posting, index) => (claimedIds.has(ids[index]!) ? [index] : []));
  }

  /**
   * Locks the claimed postings' accounts and checks each posting, in arrival order, against their
   * totals plus the postings before it: an overdraft of a guarded account is INSUFFICIENT_FUNDS for
   * that posting alone, and its key is given back. Returns the postings that fit and their summed deltas.
   */
  async function checkAgainstLockedTotals(sql: SqlRunner, batch: readonly PostingRequest[], claimed: readonly number[], ids: readonly string[], outcomes: Array<Settlement<PostedTransaction> | undefined>) {
    const accountIds = [...new Set(claimed.flatMap((index) => batch[index]!.lines.map((line) => line.accountId)))].sort();
    const locked = await sql.query<{ id: string; guarded: boolean; posted_debits: string; posted_credits: string; pending_debits: string }>(LEDGER_BATCH_SQL.lockAccounts, [JSON.stringify(accountIds)]);
    const totals = new Map(locked.map((row) => [row.id, { guarded: row.guarded, postedDebits: BigInt(row.posted_debits), postedCredits: BigInt(row.posted_credits), pendingDebits: BigInt(row.pending_debits) }]));
    const posted: number[] = [];
    const refused: number[] = [];
    const sums = new Map<string, AccountDelta>();
    for (const index of claimed) {
      const deltas = linesToDeltas(batch[index]!.lines);
      const missing = [...deltas.keys()].find((accountId) => !totals.has(accountId));
      const overdrawn = [...deltas].some(([accountId, delta]) => {
        const total = totals.get(accountId);
        return total !== undefined && total.guarded && total.postedCredits + delta.postedCredits - total.postedDebits - delta.postedDebits - total.pendingDebits < 0n;
      });
      if (missing !== undefined || overdrawn) {
        outcomes[index] = { ok: false, error: missing !== undefined ? notFound(`No ledger account ${missing}`) : insufficientFunds() };
        refused.push(index);
        continue;
      }
      for (const [accountId, delta] of deltas) {
        const total = totals.get(accountId)!;
        total.postedDebits += delta.postedDebits;
        total.postedCredits += delta.postedCredits;
        const sum = sums.get(accountId) ?? zeroDelta();
        sum.postedDebits += delta.postedDebits;
        sum.postedCredits += delta.postedCredits;
        sums.set(accountId, sum);
      }
      posted.push(index);
    }
    if (refused.length > 0) await sql.query(LEDGER_BATCH_SQL.releaseClaims, [JSON.stringify(refused.map((index) => ids[index]))]);
    return { posted, deltas: sums };
  }

  /** Every entry of the batch, in order, and the summed totals, in one statement; the entries by transaction. */
  async function writeEntriesAndTotals(sql: SqlRunner, transactions: ReadonlyArray<{ id: string }>, linesOf: ReadonlyArray<ReadonlyArray<PostingLine & { id: string }>>, deltas: Map<string, AccountDelta>) {
    const entries = linesOf.flatMap((lines, n) => lines.map((line) => ({ id: line.id, transaction_id: transactions[n]!.id, account_id: line.accountId, direction: line.direction, amount: line.amount.toString(), currency: line.currency })));
    const rows = await sql.query(LEDGER_BATCH_SQL.postEntriesAndTotals, [
      JSON.stringify(entries.map((entry, ordinal) => ({ ordinal, ...entry }))),
      JSON.stringify(Object.fromEntries([...deltas].map(([id, delta]) => [id, { posted_debits: delta.postedDebits.toString(), posted_credits: delta.postedCredits.toString() }]))),
      [...deltas.keys()].join(','),
    ]);
    if (rows.length !== entries.length || rows[0]?.accounts_updated !== deltas.size) {
      throw new Error(`A batch wrote ${rows.length} of ${entries.length} entries and ${String(rows[0]?.accounts_updated)} of ${deltas.size} accounts`);
    }
    return groupEntries(rows.map(toEntry));
  }

  /** The hash chain's head, locked until commit. */
  async function lockChainHead(sql: SqlRunner): Promise<{ sequence: string; hash: string }> {
    const [head] = await sql.query<{ sequence: string; hash: string }>(LEDGER_BATCH_SQL.lockChainHead);
    if (!head) throw new Error('The ledger has no hash chain head');
    return head;
  }

  /** One hash-chain link per transaction, in order, from the locked head; the stamped rows by id. */
  async function chainTransactions(sql: SqlRunner, head: { sequence: string; hash: string }, transactions: ReadonlyArray<{ id: string; idempotencyKey: string; description: string | null }>, linesOf: ReadonlyArray<ReadonlyArray<PostingLine & { id: string }>>) {
    let sequence = BigInt(head.sequence);
    let hash = head.hash;
    const stamps = transactions.map((transaction, n) => {
      sequence += 1n;
      hash = chainHash(hash, chainPayload(transaction, linesOf[n]!));
      return { id: transaction.id, sequence: sequence.toString(), hash };
    });
    const stamped = await sql.query(LEDGER_BATCH_SQL.stampTransactions, [JSON.stringify(Object.fromEntries(stamps.map(({ id, ...stamp }) => [id, stamp]))), sequence.toString(), hash, stamps.map((stamp) => stamp.id).join(',')]);
    return new Map(stamped.map((row) => [row.id as string, toTransaction(row)]));
  }

  /** Postings whose key was taken: the first result when the request is the same, else IDEMPOTENCY_KEY_REUSED. */
  async function settleTaken(sql: SqlRunner, batch: readonly PostingRequest[], taken: readonly number[], outcomes: Array<Settlement<PostedTransaction> | undefined>) {
    const existing = (await sql.query(LEDGER_BATCH_SQL.transactionsByKeys, [JSON.stringify(taken.map((index) => batch[index]!.idempotencyKey))])).map(toTransaction);
    const byKey = new Map(existing.map((transaction) => [transaction.idempotencyKey, transaction]));
    const entriesById = existing.length === 0 ? new Map<string, EntryRow[]>() : groupEntries((await sql.query(LEDGER_BATCH_SQL.entriesOfTransactions, [JSON.stringify(existing.map((transaction) => transaction.id))])).map(toEntry));
    for (const index of taken) {
      const posting = batch[index]!;
      try {
        const found = byKey.get(posting.idempotencyKey);
        if (!found) throw keyReused();
        const transaction = replayOrRefuse(found, posting.replayHashes);
        outcomes[index] = { ok: true, value: { transaction, entries: entriesById.get(transaction.id) ?? [], replayed: true } };
      } catch (error) {
        outcomes[index] = { ok: false, error };
      }
    }
  }

  /**
   * A batch in a transaction of its own (retried on a deadlock). An error the checks above did not
   * foresee and that one posting may have caused (a data or integrity error: SQLSTATE class 22 or
   * 23) fails no one else: each posting of that batch is tried alone.
   */
  async function postBatch(batch: readonly PostingRequest[]): Promise<Array<Settlement<PostedTransaction>>> {
    try {
      return await inTransaction((sql) => postBatchIn(sql, batch));
    } catch (error) {
      if (batch.length === 1 || !isCausedByData(error)) throw error;
      const settled: Array<Settlement<PostedTransaction>> = [];
      for (const posting of batch) {
        settled.push(await postBatch([posting]).then(([one]) => one!, (alone: unknown) => ({ ok: false as const, error: alone })));
      }
      return settled;
    }
  }

  /** Captures all or part of a hold under its row lock, in the caller's transaction; a capture under the same key replays. */
  async function captureIn(sql: SqlRunner, input: { holdId: string; amount: bigint | null; idempotencyKey: string }): Promise<{ hold: HoldRow; posted: PostedTransaction }> {
    const [locked] = await sql.query(LEDGER_SQL.holdForUpdate, [input.holdId]);
    if (!locked) throw notFound(`No hold ${input.holdId}`);
    const hold = toHold(locked);
    const amount = input.amount ?? hold.amount;
    if (hold.status === 'CAPTURED') {
      if (hold.captureIdempotencyKey !== input.idempotencyKey) throw invalidState(`Hold ${hold.id} is already captured.`);
      return { hold, posted: await replayTransaction(sql, input.idempotencyKey, captureHash(hold.id, amount)) };
    }
    if (hold.status !== 'PENDING') throw invalidState(`Hold ${hold.id} is ${hold.status.toLowerCase()}; only a pending hold can be captured.`);
    if (hold.expiresAt.getTime() <= Date.now()) throw invalidState(`Hold ${hold.id} has expired.`);
    if (amount <= 0n || amount > hold.amount) throw badUserInput(`The captured amount must be between 1 and the held ${hold.amount}`, 'input.amount');
    return postCapture(sql, hold, amount, input.idempotencyKey, { pendingRaised: true });
  }

  const captureHash = (holdId: string, amount: bigint) => requestHash('capture', { holdId, amount });

  /**
   * Posts `amount` of a hold locked by the caller (the rest is released) and marks it captured.
   * `pendingRaised`: the hold raised its accounts' pending totals (an authorize before), which the
   * capture takes back down; false for a hold captured in the transaction that placed it.
   */
  async function postCapture(sql: SqlRunner, hold: HoldRow, amount: bigint, idempotencyKey: string, options: { pendingRaised: boolean }): Promise<{ hold: HoldRow; posted: PostedTransaction }> {
    const id = newId('ltx');
    const claimed = await sql.query(LEDGER_SQL.insertTransaction, [id, idempotencyKey, captureHash(hold.id, amount), 'CAPTURE', hold.id, hold.description]);
    if (claimed.length === 0) throw keyReused();
    const lines: PostingLine[] = [
      { accountId: hold.debitAccountId, direction: 'DEBIT', amount, currency: hold.currency },
      { accountId: hold.creditAccountId, direction: 'CREDIT', amount, currency: hold.currency },
    ];
    const deltas = linesToDeltas(lines);
    if (options.pendingRaised) {
      deltas.get(hold.debitAccountId)!.pendingDebits -= hold.amount;
      deltas.get(hold.creditAccountId)!.pendingCredits -= hold.amount;
    }
    // The hold is marked captured in the same round trip as the posting.
    const [posted, [captured]] = await Promise.all([post(sql, { id, idempotencyKey, description: hold.description }, lines, deltas), sql.query(LEDGER_SQL.markHoldCaptured, [hold.id, amount.toString(), id, idempotencyKey])]);
    return { hold: toHold(captured!), posted: { ...posted, replayed: false } };
  }

  const postings = createGroupCommit<PostingRequest, PostedTransaction>({
    run: postBatch,
    keyOf: (posting) => posting.idempotencyKey,
    batchSizeMax: POSTINGS_PER_BATCH_MAX,
    batchesInFlightMax: POSTING_BATCHES_IN_FLIGHT_MAX,
    waitingMax: POSTINGS_WAITING_MAX,
  });

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


    /**
     * Posts a balanced journal transaction (validated by the caller) exactly once per key, in the
     * next batch of postings (group commit): its own result, replay or error, whatever the others'.
     */
    async postTransaction(input: { idempotencyKey: string; description: string | null; lines: readonly PostingLine[] }): Promise<PostedTransaction> {
      const hashes = postingHashes(input.description, input.lines);
      await assertAccounts(db, input.lines, 'input.entries');
      return postings.submit({ ...input, ...hashes });
    },

    /**
     * Reserves funds: raises the debit account's pending debits (guarded) and the credit account's
     * pending credits. With `captureIdempotencyKey`, the whole hold is also captured under that key
     * in the same transaction (an automatic capture: one transaction and one call instead of
     * authorize, then capture), leaving the same rows as the two steps (a CAPTURED hold and its
     * CAPTURE transaction). Each key keeps its own idempotency: a repeat replays the hold, then
     * replays its capture, or captures a hold that an earlier authorize (without the capture
     * key) left pending; the capture key is not part of the authorize key's request.
     */
    async authorize(input: {
      idempotencyKey: string;
      debitAccountId: string;
      creditAccountId: string;
      amount: bigint;
      currency: string;
      expiresAt: Date;
      description: string | null;
      captureIdempotencyKey?: string | null;
    }): Promise<{ hold: HoldRow; replayed: boolean }> {
      const { idempotencyKey, captureIdempotencyKey, ...parameters } = input;
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
        if (outcome.replayed) {
          if (!captureIdempotencyKey) return { hold: outcome.existing, replayed: true };
          const { hold } = await captureIn(sql, { holdId: outcome.existing.id, amount: null, idempotencyKey: captureIdempotencyKey });
          return { hold, replayed: true };
        }
        const inserted = outcome.claimed;
        // Captured at once: its pending totals would go up and straight down again, so only the
        // posting is written (the guard on the debit account checks the same available balance).
        // A hold whose lifetime has already passed is refused as captureHold refuses an expired
        // one (the claim rolls back with it); a replay of one captured in time still replays.
        if (captureIdempotencyKey && inserted.expiresAt.getTime() <= Date.now()) throw invalidState('The hold would have expired before its capture.');
        if (captureIdempotencyKey) return { hold: (await postCapture(sql, inserted, inserted.amount, captureIdempotencyKey, { pendingRaised: false })).hold, replayed: false };
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
      return inTransaction((sql) => captureIn(sql, input));
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
      if (options.beforePosition !== undefined && options.beforePosition !== null) conditions.push(lt(entries.position, options.beforePosition));
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
