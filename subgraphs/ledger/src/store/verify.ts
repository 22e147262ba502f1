/**
 * The ledger's self-check, in one repeatable-read snapshot: debits equal credits per currency and
 * per transaction, every cached total equals what its entries and pending holds say, and the hash
 * chain recomputes from the genesis hash to the head.
 */
import { asc, gt, inArray, sql } from 'drizzle-orm';
import { rowsOf, type Database } from '@paygraph/db';
import { entries, transactions, type schema } from '../db/schema';
import { GENESIS_HASH, chainHash, chainPayload } from '../domain/postings';

export interface LedgerVerification {
  ok: boolean;
  checkedTransactions: number;
  mismatches: string[];
}

/** Transactions re-hashed per batch (bounded memory whatever the ledger's size). */
const CHAIN_BATCH_SIZE = 500;
/** Mismatches reported at most; the count says when there are more. */
const MISMATCHES_REPORTED_MAX = 100;

export async function verifyLedger(db: Database<typeof schema>): Promise<LedgerVerification> {
  return db.transaction(
    async (tx) => {
      const mismatches: string[] = [];
      const report = (message: string) => {
        if (mismatches.length < MISMATCHES_REPORTED_MAX) mismatches.push(message);
      };

      const currencies = rowsOf<{ currency: string; debits: string; credits: string }>(
        await tx.execute(sql`
          select currency,
                 coalesce(sum(amount) filter (where direction = 'DEBIT'), 0)::text as debits,
                 coalesce(sum(amount) filter (where direction = 'CREDIT'), 0)::text as credits
            from ledger.entries group by currency`),
      );
      for (const row of currencies) {
        if (row.debits !== row.credits) report(`currency ${row.currency}: debits ${row.debits} != credits ${row.credits}`);
      }

      const unbalanced = rowsOf<{ transaction_id: string; currency: string }>(
        await tx.execute(sql`
          select transaction_id, currency from ledger.entries
           group by transaction_id, currency
          having sum(case when direction = 'DEBIT' then amount else -amount end) <> 0`),
      );
      for (const row of unbalanced) report(`transaction ${row.transaction_id}: unbalanced in ${row.currency}`);

      const drifted = rowsOf<{ id: string; field: string; cached: string; computed: string }>(
        await tx.execute(sql`
          with posted as (
            select account_id,
                   coalesce(sum(amount) filter (where direction = 'DEBIT'), 0) as debits,
                   coalesce(sum(amount) filter (where direction = 'CREDIT'), 0) as credits
              from ledger.entries group by account_id),
          pending as (
            select account_id, sum(debits) as debits, sum(credits) as credits from (
              select debit_account_id as account_id, amount as debits, 0 as credits from ledger.holds where status = 'PENDING'
              union all
              select credit_account_id, 0, amount from ledger.holds where status = 'PENDING') held
             group by account_id),
          computed as (
            select a.id, a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits,
                   coalesce(p.debits, 0) as posted_debits_computed, coalesce(p.credits, 0) as posted_credits_computed,
                   coalesce(h.debits, 0) as pending_debits_computed, coalesce(h.credits, 0) as pending_credits_computed
              from ledger.accounts a
              left join posted p on p.account_id = a.id
              left join pending h on h.account_id = a.id)
          select id, field, cached::text, computed_value::text as computed from computed,
            lateral (values ('posted debits', posted_debits, posted_debits_computed),
                            ('posted credits', posted_credits, posted_credits_computed),
                            ('pending debits', pending_debits, pending_debits_computed),
                            ('pending credits', pending_credits, pending_credits_computed)) as fields(field, cached, computed_value)
           where cached <> computed_value`),
      );
      for (const row of drifted) report(`account ${row.id}: cached ${row.field} ${row.cached} != ${row.computed} from its entries`);

      const [head] = rowsOf<{ sequence: string; hash: string }>(await tx.execute(sql`select sequence::text as sequence, hash from ledger.chain_head where id = 1`));
      let previousHash = GENESIS_HASH;
      let expectedSequence = 1n;
      let checked = 0;
      for (;;) {
        const batch = await tx
          .select()
          .from(transactions)
          .where(gt(transactions.sequence, expectedSequence - 1n))
          .orderBy(asc(transactions.sequence))
          .limit(CHAIN_BATCH_SIZE);
        if (batch.length === 0) break;
        const lines = await tx.select().from(entries).where(inArray(entries.transactionId, batch.map((transaction) => transaction.id)));
        for (const transaction of batch) {
          if (transaction.sequence !== expectedSequence) report(`chain: sequence ${expectedSequence} is missing (found ${transaction.sequence})`);
          const own = lines.filter((line) => line.transactionId === transaction.id);
          const recomputed = chainHash(previousHash, chainPayload(transaction, own));
          if (recomputed !== transaction.hash) report(`transaction ${transaction.id}: hash does not match its entries or its predecessor (sequence ${transaction.sequence})`);
          previousHash = transaction.hash ?? recomputed;
          expectedSequence = (transaction.sequence ?? expectedSequence) + 1n;
          checked += 1;
        }
      }
      const unchained = rowsOf<{ count: string }>(await tx.execute(sql`select count(*)::text as count from ledger.transactions where sequence is null`));
      if (unchained[0]!.count !== '0') report(`${unchained[0]!.count} transactions are outside the hash chain`);
      if (head && (BigInt(head.sequence) !== expectedSequence - 1n || head.hash !== previousHash)) {
        report(`chain head (sequence ${head.sequence}) does not match the last transaction (sequence ${expectedSequence - 1n})`);
      }
      return { ok: mismatches.length === 0, checkedTransactions: checked, mismatches };
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
}
