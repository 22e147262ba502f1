// Proves reconcilePayments works at any size: 10,000 settled payments carrying 30,000 refunds (more
// keys per page than the ledger serves in one lookup) are seeded by SQL straight into the payments
// and ledger tables of a platform of their own, then reconciled through the gateway by the real
// code path against the real ledger: every payment is checked, and the one seeded disagreement (a
// refund the ledger never moved, on a page far from the first) is the one reported.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createOwnDatabase, type OwnDatabase } from '@paygraph/db/testing';
import { openServiceDatabase, resolveDatabaseTarget } from '@paygraph/db';
import { TEST_PASSWORD, gql, loginAs, uniqueEmail } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { schema as ledgerSchema } from '../../subgraphs/ledger/src/db/schema';
import { schema as paymentsSchema } from '../../subgraphs/payments/src/db/schema';

const PAYMENTS = 10_000;
const REFUNDS_PER_PAYMENT = 3;
const MISMATCHED = 5_000;
const serverUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const onServer = Boolean(process.env.DATABASE_URL);
/** On PostgreSQL the seeded rows go to databases of their own, never the ones other tests share. */
const databases: OwnDatabase[] = [];
const adminEmail = uniqueEmail('admin');
let platform: Platform;
let env: Record<string, string> = {};

beforeAll(async () => {
  if (onServer) {
    const payments = await createOwnDatabase(serverUrl, 'reconcile_payments');
    databases.push(payments);
    const ledger = await createOwnDatabase(serverUrl, 'reconcile_ledger');
    databases.push(ledger);
    env = { PAYMENTS_DATABASE_URL: payments.url, LEDGER_DATABASE_URL: ledger.url };
  }
  // The reconciliation of 10,000 payments is one request: give it the time a large book needs.
  // One reconciliation of 10,000 payments runs longer than the default per-request deadline
  // (REQUEST_TIMEOUT_MS 15 s) and subgraph timeout: an operator reconciling this much raises both.
  platform = await startTestPlatform({ env: { ...env, ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: TEST_PASSWORD, SUBGRAPH_TIMEOUT_MS: '60000', REQUEST_TIMEOUT_MS: '90000', PAYMENT_RECOVERY_INTERVAL_MS: '3600000' } });
});

afterAll(async () => {
  await platform?.stop();
  for (const database of databases) await database.drop();
});

async function seed() {
  const open = <T extends Record<string, unknown>>(service: string, schema: T) =>
    openServiceDatabase({ service, target: resolveDatabaseTarget(service, { ...process.env, ...env }, 'memory://'), schema, migrationsFolder: new URL(`../../subgraphs/${service}/drizzle`, import.meta.url).pathname });
  const payments = await open('payments', paymentsSchema);
  const ledger = await open('ledger', ledgerSchema);
  try {
    // Each payment captured 1000 and refunded 3 x 100, as payments recorded them...
    await payments.query(
      `insert into payments.payments (id, order_id, buyer_id, merchant_id, amount, currency, status, step, capture_method, idempotency_key, request_hash, buyer_account_id, merchant_account_id, amount_captured, amount_refunded)
       select 'pay_seed_' || g, 'ord_seed_' || g, 'usr_seed_buyer', 'usr_seed_merchant', 1000, 'USD', 'SUCCEEDED', 'CAPTURED', 'AUTOMATIC', 'seed-' || g, 'seed', 'acc_seed_buyer', 'acc_seed_merchant', 1000, ${100 * REFUNDS_PER_PAYMENT}
         from generate_series(1, ${PAYMENTS}) g`,
    );
    await payments.query(
      `insert into payments.refunds (id, payment_id, amount, currency, status, idempotency_key, request_hash)
       select 'ref_seed_' || g || '_' || r, 'pay_seed_' || g, 100, 'USD', 'SUCCEEDED', 'seed-' || r, 'seed'
         from generate_series(1, ${PAYMENTS}) g, generate_series(1, ${REFUNDS_PER_PAYMENT}) r`,
    );
    // ...and as the ledger moved them, under the keys payments gives each step (one refund missing).
    await ledger.query(
      `insert into ledger.transactions (id, idempotency_key, request_hash, kind, description)
       select 'ltx_seed_capture_' || g, 'payment:pay_seed_' || g || ':capture', 'seed', 'CAPTURE', 'seed' from generate_series(1, ${PAYMENTS}) g
       union all
       select 'ltx_seed_refund_' || g || '_' || r, 'refund:ref_seed_' || g || '_' || r, 'seed', 'TRANSFER', 'seed'
         from generate_series(1, ${PAYMENTS}) g, generate_series(1, ${REFUNDS_PER_PAYMENT}) r where not (g = ${MISMATCHED} and r = ${REFUNDS_PER_PAYMENT})`,
    );
    await ledger.query(
      `insert into ledger.entries (id, transaction_id, account_id, direction, amount, currency)
       select 'len_seed_' || t.id || '_' || side, t.id,
              case when (t.kind = 'CAPTURE') = (side = 'debit') then 'acc_seed_buyer' else 'acc_seed_merchant' end,
              case when side = 'debit' then 'DEBIT' else 'CREDIT' end,
              case when t.kind = 'CAPTURE' then 1000 else 100 end, 'USD'
         from ledger.transactions t, (values ('debit'), ('credit')) sides(side) where t.id like 'ltx_seed_%'`,
    );
  } finally {
    await payments.close();
    await ledger.close();
  }
}

it(`reconciles ${PAYMENTS.toLocaleString('en')} payments carrying ${(PAYMENTS * REFUNDS_PER_PAYMENT).toLocaleString('en')} refunds`, async () => {
  await seed();
  const admin = await loginAs(platform.gatewayUrl!, adminEmail, TEST_PASSWORD);
  const started = Date.now();
  const result = await gql(platform.gatewayUrl!, `{ reconcilePayments { ok checkedPayments inFlightPayments mismatches } }`, {}, admin.accessToken);
  expect(result.errors).toBeUndefined();
  expect(result.data!.reconcilePayments).toEqual({
    ok: false,
    checkedPayments: PAYMENTS,
    inFlightPayments: 0,
    mismatches: [`payment pay_seed_${MISMATCHED}: captured minus refunded is 700, the ledger moved 800`],
  });
  // Measured 34 s on PGlite with the 2-core machine at load 20; the bound catches a return to
  // one round trip per key or a quadratic join.
  expect(Date.now() - started).toBeLessThan(60_000);
}, 120_000);
