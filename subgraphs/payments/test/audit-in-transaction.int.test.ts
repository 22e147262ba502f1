// A review decision is recorded in the transaction of its claim: the claim (a status change, or a
// step recorded without one) leaves its record in payments.audit_outbox, and a claim whose record
// cannot be written fails and leaves the payment under review (no decision without its record, as a
// crash between the two used to allow).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auditInTransaction, type AuditEntry } from '@paygraph/audit';
import { unsentOutboxRecorder, waitingRecords, withOutboxUnwritable } from '@paygraph/audit/testing';
import type { ServiceDatabase } from '@paygraph/db';
import { openOwnServiceDatabase } from '@paygraph/db/testing';
import { schema } from '../src/db/schema';
import type { FlowDeps } from '../src/deps';
import { claim } from '../src/saga/advance';
import { migrationsFolder } from '../src/server';
import { createPaymentsStore, type PaymentsStore } from '../src/store/payments-store';

let database: ServiceDatabase<typeof schema>;
let store: PaymentsStore;
let deps: FlowDeps;

beforeAll(async () => {
  database = await openOwnServiceDatabase({ service: 'payments', schema, migrationsFolder, label: 'payments_audit' });
  store = createPaymentsStore(database);
  // claim() reads nothing but the store.
  deps = { store } as unknown as FlowDeps;
});

afterAll(async () => {
  await database?.close();
});

async function paymentUnderReview() {
  const order = await store.createOrder({ buyerId: 'usr_buyer', merchantId: 'usr_merchant', amount: 900n, currency: 'USD', description: null });
  return store.insertPayment({ id: `pay_${order.id}`, orderId: order.id, buyerId: order.buyerId, status: 'REQUIRES_REVIEW', step: 'HOLD_PLACED', captureMethod: 'MANUAL', idempotencyKey: order.id, requestHash: 'h' });
}

const decided = (paymentId: string, decision: string): AuditEntry => ({ type: 'payment.review_decided', actorId: 'usr_admin', subjectId: paymentId, outcome: 'SUCCESS', details: { decision } });
const recordsOf = async (paymentId: string) => (await waitingRecords('payments', database.query)).filter((row) => row.subject_id === paymentId).map((row) => [row.type, row.request_id]);
const review = { reviewDecision: 'APPROVE', reviewNote: null, reviewedBy: 'usr_admin', reviewedAt: new Date() } as const;

it('writes a review claim and its record together, with or without a status change', async () => {
  const recorder = unsentOutboxRecorder('payments', database.query);
  const approved = await paymentUnderReview();
  const authorized = await claim(deps, approved.id, 'review-approved-manual', review, auditInTransaction(recorder, { requestId: 'req-approve' }, () => decided(approved.id, 'APPROVE')));
  expect(authorized).toMatchObject({ status: 'AUTHORIZED', reviewDecision: 'APPROVE' });
  expect(await recordsOf(approved.id)).toEqual([['payment.review_decided', 'req-approve']]);

  // REJECT records a step (CANCEL_REQUESTED) without a status change: audited, it still runs in a transaction.
  const rejected = await paymentUnderReview();
  const canceling = await claim(deps, rejected.id, 'review-rejected', { ...review, reviewDecision: 'REJECT' }, auditInTransaction(recorder, { requestId: 'req-reject' }, () => decided(rejected.id, 'REJECT')));
  expect(canceling).toMatchObject({ status: 'REQUIRES_REVIEW', step: 'CANCEL_REQUESTED', reviewDecision: 'REJECT' });
  expect(await recordsOf(rejected.id)).toEqual([['payment.review_decided', 'req-reject']]);

  // A claim that loses (the payment moved on) records nothing.
  expect(await claim(deps, approved.id, 'review-rejected', { ...review, reviewDecision: 'REJECT' }, auditInTransaction(recorder, {}, () => decided(approved.id, 'REJECT')))).toBeNull();
  expect(await recordsOf(approved.id)).toHaveLength(1);
});

it('makes no review decision whose record cannot be written', async () => {
  const recorder = unsentOutboxRecorder('payments', database.query);
  const approved = await paymentUnderReview();
  const rejected = await paymentUnderReview();
  await withOutboxUnwritable('payments', database.query, async () => {
    await expect(claim(deps, approved.id, 'review-approved-manual', review, auditInTransaction(recorder, {}, () => decided(approved.id, 'APPROVE')))).rejects.toThrow();
    await expect(claim(deps, rejected.id, 'review-rejected', { ...review, reviewDecision: 'REJECT' }, auditInTransaction(recorder, {}, () => decided(rejected.id, 'REJECT')))).rejects.toThrow();
  });
  const [approvedNow, rejectedNow] = await store.paymentsByIds([approved.id, rejected.id]);
  for (const payment of [approvedNow, rejectedNow]) expect(payment).toMatchObject({ status: 'REQUIRES_REVIEW', step: 'HOLD_PLACED', reviewDecision: null });
  expect(await recordsOf(approved.id)).toEqual([]);
  expect(await recordsOf(rejected.id)).toEqual([]);
  // The outbox is back: the decision goes through with its record.
  expect(await claim(deps, approved.id, 'review-approved-manual', review, auditInTransaction(recorder, {}, () => decided(approved.id, 'APPROVE')))).toMatchObject({ status: 'AUTHORIZED' });
  expect(await recordsOf(approved.id)).toHaveLength(1);
});
