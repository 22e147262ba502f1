/**
 * The ledger's write statements, hand-written for the hot path. Parameters are text cast in SQL;
 * amounts come back as text. The benchmark issues these same statements directly.
 */
const HOLD_COLUMNS = `id, idempotency_key, request_hash, debit_account_id, credit_account_id, amount::text as amount, currency, status,
  captured_amount::text as captured_amount, capture_transaction_id, capture_idempotency_key, description, expires_at, created_at, updated_at`;

export const LEDGER_SQL = {
  /** Claims an idempotency key; returns nothing when the key exists (then replay or refuse). */
  insertTransaction: `
    insert into ledger.transactions (id, idempotency_key, request_hash, kind, hold_id, description)
    values ($1, $2, $3, $4, $5, $6)
    on conflict (idempotency_key) do nothing
    returning id`,
  /** Two entries at once (the shape of every transfer and capture). */
  insertTwoEntries: `
    insert into ledger.entries (id, transaction_id, account_id, direction, amount, currency)
    values ($1, $2, $3, $4, $5::bigint, $6), ($7, $2, $8, $9, $10::bigint, $11)
    returning id, position::text as position, transaction_id, account_id, direction, amount::text as amount, currency, created_at`,
  insertEntry: `
    insert into ledger.entries (id, transaction_id, account_id, direction, amount, currency)
    values ($1, $2, $3, $4, $5::bigint, $6)
    returning id, position::text as position, transaction_id, account_id, direction, amount::text as amount, currency, created_at`,
  /**
   * Adds deltas to an account's cached totals. A guarded account whose credits would fall below
   * its posted and pending debits is left alone (no row returned): insufficient funds.
   */
  applyDelta: `
    update ledger.accounts
       set posted_debits = posted_debits + $2::bigint,
           posted_credits = posted_credits + $3::bigint,
           pending_debits = pending_debits + $4::bigint,
           pending_credits = pending_credits + $5::bigint
     where id = $1
       and (not guarded or posted_credits + $3::bigint - posted_debits - $2::bigint - pending_debits - $4::bigint >= 0)
    returning id`,
  /** Advances the hash chain (locking its head until commit) and stamps the transaction. */
  chain: `
    with head as (
      update ledger.chain_head
         set sequence = sequence + 1,
             hash = encode(sha256(decode(hash, 'hex') || convert_to($2, 'UTF8')), 'hex')
       where id = 1
   returning sequence, hash)
    update ledger.transactions t set sequence = head.sequence, hash = head.hash
      from head where t.id = $1
    returning t.id, t.idempotency_key, t.request_hash, t.kind, t.hold_id, t.description,
              t.sequence::text as sequence, t.hash, t.created_at`,
  transactionByKey: `
    select id, idempotency_key, request_hash, kind, hold_id, description, sequence::text as sequence, hash, created_at
      from ledger.transactions where idempotency_key = $1`,
  entriesOfTransaction: `
    select id, position::text as position, transaction_id, account_id, direction, amount::text as amount, currency, created_at
      from ledger.entries where transaction_id = $1 order by position`,
  insertHold: `
    insert into ledger.holds (id, idempotency_key, request_hash, debit_account_id, credit_account_id, amount, currency, status, description, expires_at)
    values ($1, $2, $3, $4, $5, $6::bigint, $7, 'PENDING', $8, $9::timestamptz)
    on conflict (idempotency_key) do nothing
    returning ${HOLD_COLUMNS}`,
  holdByKey: `select ${HOLD_COLUMNS} from ledger.holds where idempotency_key = $1`,
  holdForUpdate: `select ${HOLD_COLUMNS} from ledger.holds where id = $1 for update`,
  markHoldCaptured: `
    update ledger.holds
       set status = 'CAPTURED', captured_amount = $2::bigint, capture_transaction_id = $3, capture_idempotency_key = $4, updated_at = now()
     where id = $1
    returning ${HOLD_COLUMNS}`,
  markHoldReleased: `update ledger.holds set status = $2, updated_at = now() where id = $1 returning ${HOLD_COLUMNS}`,
} as const;
