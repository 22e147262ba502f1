// Proves "may not see it" and "could not resolve it" are different answers on the path a live
// event takes (createPayloadExecution().resolverFor, the resolver server.ts hands to every
// subscription): a payment that comes back null because a subgraph failed (SERVICE_UNAVAILABLE,
// or a connection error with no code, as a killed payments instance gives) is retried and then
// rejects, which ends the subscription as SERVICE_UNAVAILABLE; it is never read as "skip this
// event". Null with an answer about the payment (FORBIDDEN, NOT_FOUND) is skipped; a retry that
// succeeds delivers the payment.
import type { ApolloServer } from '@apollo/server';
import { parse } from 'graphql';
import { expect, it } from 'vitest';
import { createLogger } from '@paygraph/logging';
import type { GatewayContext } from '../src/context';
import { createPayloadExecution, RESOLVE_ATTEMPTS_MAX, type Subscriber } from '../src/subscriptions/execution';
import type { PaymentStatusChange } from '../src/subscriptions/hub';
import { PAYMENT_VARIABLE, VISIBLE_ALIAS } from '../src/subscriptions/selection';

const logger = createLogger({ level: 'silent', name: 'test' });

type SingleResult = { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };

/** An ApolloServer whose executeOperation answers each call with the next of `answers` (the last one repeats). */
function fakeApollo(answers: SingleResult[]) {
  const calls: { variables: Record<string, unknown> | undefined }[] = [];
  const apollo = {
    async executeOperation(request: { variables?: Record<string, unknown> }) {
      calls.push({ variables: request.variables });
      const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!;
      return { http: { status: 200, headers: new Map() }, body: { kind: 'single', singleResult: answer } };
    },
  } as unknown as ApolloServer<GatewayContext>;
  return { apollo, calls };
}

const document = parse(`query($${PAYMENT_VARIABLE}: ID!) { ${VISIBLE_ALIAS}: payment(id: $${PAYMENT_VARIABLE}) { id } payment(id: $${PAYMENT_VARIABLE}) { id status } }`);
const subscriber: Subscriber = { viewer: { kind: 'user', userId: 'usr_m', role: 'MERCHANT' }, authorization: 'Bearer token' };
let nextSequence = 1;
const change = (): PaymentStatusChange => ({
  sequence: BigInt(nextSequence++),
  paymentId: 'pay_1',
  buyerId: 'usr_b',
  merchantId: 'usr_m',
  status: 'SUCCEEDED',
  previousStatus: 'AUTHORIZED',
  occurredAt: new Date(0).toISOString(),
});
const resolverOf = (answers: SingleResult[]) => {
  const { apollo, calls } = fakeApollo(answers);
  return { resolve: createPayloadExecution({ apollo, logger }).resolverFor(subscriber, document, 1, {}), calls };
};

const payment = { id: 'pay_1', status: 'SUCCEEDED' };
const resolved: SingleResult = { data: { [VISIBLE_ALIAS]: { id: 'pay_1' }, payment } };
/** What the gateway's federated execution answers when the payments subgraph is down. */
const unavailable: SingleResult = {
  data: { [VISIBLE_ALIAS]: null, payment: null },
  errors: [{ message: 'The service is temporarily unavailable; retry later.', extensions: { code: 'SERVICE_UNAVAILABLE' } }],
};
/** A fetch that failed with no code mapped (the shape of ECONNRESET / "other side closed"). */
const connectionReset: SingleResult = {
  data: { [VISIBLE_ALIAS]: null, payment: null },
  errors: [{ message: 'request to http://127.0.0.1:4003/graphql failed, reason: read ECONNRESET' }],
};
const answered = (code: string): SingleResult => ({ data: { [VISIBLE_ALIAS]: null, payment: null }, errors: [{ message: code, extensions: { code } }] });

it.each([
  ['SERVICE_UNAVAILABLE', unavailable],
  ['an error with no code (ECONNRESET)', connectionReset],
])('a payment that could not be resolved (%s) is retried, then rejects: never read as "may not see it"', async (_name, failure) => {
  const { resolve, calls } = resolverOf([failure]);
  await expect(resolve(change())).rejects.toThrow(/could not be resolved/);
  expect(calls).toHaveLength(RESOLVE_ATTEMPTS_MAX);
  expect(calls[0]!.variables).toEqual({ [PAYMENT_VARIABLE]: 'pay_1' });
});

it('an error with no data at all (the whole federated call failed) also rejects', async () => {
  const { resolve, calls } = resolverOf([{ data: null, errors: [{ message: 'fetch failed' }] }]);
  await expect(resolve(change())).rejects.toThrow(/could not be resolved/);
  expect(calls).toHaveLength(RESOLVE_ATTEMPTS_MAX);
});

it('one failed field beside an answer is still a failure to answer', async () => {
  const { resolve } = resolverOf([{ ...unavailable, errors: [...answered('FORBIDDEN').errors!, ...unavailable.errors!] }]);
  await expect(resolve(change())).rejects.toThrow(/could not be resolved/);
});

it.each(['FORBIDDEN', 'NOT_FOUND'])('a payment answered null with %s is skipped (null), at once, not retried', async (code) => {
  const { resolve, calls } = resolverOf([answered(code)]);
  await expect(resolve(change())).resolves.toBeNull();
  expect(calls).toHaveLength(1);
});

it('a payment that resolves to null with no error is skipped', async () => {
  const { resolve } = resolverOf([{ data: { [VISIBLE_ALIAS]: null, payment: null } }]);
  await expect(resolve(change())).resolves.toBeNull();
});

it.each([
  ['SERVICE_UNAVAILABLE', unavailable],
  ['an error with no code (ECONNRESET)', connectionReset],
])('after a failure (%s), a retry that resolves delivers the payment', async (_name, failure) => {
  const { resolve, calls } = resolverOf([failure, failure, resolved]);
  const delivery = await resolve(change());
  expect(calls).toHaveLength(3);
  expect(delivery).not.toBeNull();
  expect(delivery!.payments.payment).toEqual(payment);
  expect(delivery!.errors).toEqual([]);
});

it('a visible payment is delivered on the first answer', async () => {
  const { resolve, calls } = resolverOf([resolved]);
  const delivery = await resolve(change());
  expect(calls).toHaveLength(1);
  expect(delivery?.change.paymentId).toBe('pay_1');
  expect(delivery?.payments.payment).toEqual(payment);
});
