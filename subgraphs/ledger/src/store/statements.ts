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

const TRANSACTION_COLUMNS = `id, idempotency_key, request_hash, kind, hold_id, description, sequence::text as sequence, hash, created_at`;
const ENTRY_COLUMNS = `id, position::text as position, transaction_id, account_id, direction, amount::text as amount, currency, created_at`;

/**
 * The statements of one batch of transfers (group commit, `postBatch` in the store). Each takes
 * its rows as one JSON text parameter (`$1::text::jsonb`, the same on both drivers); amounts travel
 * as decimal strings and are cast in SQL. Rows to change are found by `id = any(...)` alone (the new
 * values looked up by id in a JSON object), so the planner can answer with an index scan; joined to
 * `jsonb_to_recordset` (estimated at 100 rows) an UPDATE was planned as a hash join over a
 * sequential scan of the whole table.
 */
export const LEDGER_BATCH_SQL = {
  /**
   * Plans this transaction's statements for their parameters and the tables' current size. A
   * generic plan cached while a table was small (a new ledger) kept scanning it whole as it grew,
   * until the next ANALYZE: a sequential scan of the transactions table in every batch.
   */
  customPlans: `set local plan_cache_mode = force_custom_plan`,
  /**
   * Claims every key of the batch, in ascending key order (two ledger processes' batches never wait
   * on each other's keys in a cycle); returns the ids of the claimed ones: the others exist.
   */
  claimTransactions: `
    insert into ledger.transactions (id, idempotency_key, request_hash, kind, hold_id, description)
    select x.id, x.idempotency_key, x.request_hash, 'TRANSFER', null, x.description
      from jsonb_to_recordset($1::text::jsonb) as x(id text, idempotency_key text, request_hash text, description text)
     order by x.idempotency_key
    on conflict (idempotency_key) do nothing
    returning id`,
  transactionsByKeys: `
    select ${TRANSACTION_COLUMNS} from ledger.transactions
     where idempotency_key = any(array(select jsonb_array_elements_text($1::text::jsonb)))`,
  entriesOfTransactions: `
    select ${ENTRY_COLUMNS} from ledger.entries
     where transaction_id = any(array(select jsonb_array_elements_text($1::text::jsonb)))
     order by position`,
  /** Locks the batch's accounts in ascending id order (the one lock order of the ledger) and reads their totals. */
  lockAccounts: `
    select id, guarded, posted_debits::text as posted_debits, posted_credits::text as posted_credits, pending_debits::text as pending_debits
      from ledger.accounts
     where id = any(array(select jsonb_array_elements_text($1::text::jsonb)))
     order by id
       for update`,
  /** Gives back the keys of transfers refused in the batch (never visible: same transaction). */
  releaseClaims: `delete from ledger.transactions where id = any(array(select jsonb_array_elements_text($1::text::jsonb)))`,
  /**
   * Every entry of the batch (in order) and every account's summed deltas, in one statement. The
   * deltas were checked against the locked totals; the accounts' CHECK constraints stay the backstop.
   */
  postEntriesAndTotals: `
    with inserted as (
      insert into ledger.entries (id, transaction_id, account_id, direction, amount, currency)
      select e.id, e.transaction_id, e.account_id, e.direction, e.amount::bigint, e.currency
        from jsonb_to_recordset($1::text::jsonb) as e(ordinal int, id text, transaction_id text, account_id text, direction text, amount text, currency text)
       order by e.ordinal
      returning ${ENTRY_COLUMNS}),
    totals as (
      update ledger.accounts a
         set posted_debits = a.posted_debits + ($2::text::jsonb -> a.id ->> 'posted_debits')::bigint,
             posted_credits = a.posted_credits + ($2::text::jsonb -> a.id ->> 'posted_credits')::bigint
       where a.id = any(string_to_array($3::text, ','))
      returning a.id)
    select inserted.*, (select count(*) from totals)::int as accounts_updated from inserted`,
  /** Locks the hash chain's head (held until commit) and reads it. */
  lockChainHead: `select sequence::text as sequence, hash from ledger.chain_head where id = 1 for update`,
  /** Stamps each transaction with its place in the chain and moves the head to the last one. */
  stampTransactions: `
    with head as (update ledger.chain_head set sequence = $2::bigint, hash = $3 where id = 1)
    update ledger.transactions t
       set sequence = ($1::text::jsonb -> t.id ->> 'sequence')::bigint,
           hash = $1::text::jsonb -> t.id ->> 'hash'
     where t.id = any(string_to_array($4::text, ','))
    returning t.id, t.idempotency_key, t.request_hash, t.kind, t.hold_id, t.description, t.sequence::text as sequence, t.hash, t.created_at`,
} as const;
