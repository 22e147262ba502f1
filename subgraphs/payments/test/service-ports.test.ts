// Proves that payments' ports (services.ts) answer a downstream refusal in payments' terms: the
// refusals the payment steps read keep their code with payments' own message and no field; any
// other ledger, risk or wallet refusal (a BAD_USER_INPUT with the ledger's field path) is an
// internal error that the public formatter masks and that is not mistaken for unavailability;
// SERVICE_UNAVAILABLE passes through. The callee is a fake service client that refuses as the
// real one does (refusalError), so each case is the exact error a payOrder caller would get.
import { describe, expect, it } from 'vitest';
import { publicViewOf as publicView, serviceUnavailable } from '@paygraph/errors';
import { KEYS_PER_LOOKUP_MAX } from '@paygraph/ledger/limits';
import { refusalError, ServiceContractError, type Refusal, type ServiceClient } from '@paygraph/service-client';
import * as services from '../src/services';

type Answer = { refuse: Omit<Refusal, 'details'> } | { unavailable: true } | { data: unknown };

/** Services whose every call gets `answer`; the documents sent are recorded. */
function servicesAnswering(answer: Answer): { deps: services.Services; sent: { target: string; query: string; variables: unknown }[] } {
  const sent: { target: string; query: string; variables: unknown }[] = [];
  const client: ServiceClient = {
    async request<TData>(target: string, query: string, variables?: Record<string, unknown>) {
      sent.push({ target, query, variables });
      if ('refuse' in answer) throw refusalError({ ...answer.refuse, details: {} });
      if ('unavailable' in answer) throw serviceUnavailable();
      return answer.data as TData;
    },
  };
  return { deps: { client, requestId: 'req_1', caches: services.createServiceCaches() }, sent };
}


const caught = (promise: Promise<unknown>) => promise.then(() => null, (error: unknown) => error);
const hold = { paymentId: 'pay_1', debitAccountId: 'acc_buyer', creditAccountId: 'acc_merchant', amount: 1500n, currency: 'USD', expiresAt: new Date('2030-01-01T00:00:00Z') };
const ledgerRefuses = (code: Refusal['code'], message: string, field: string | null = null): Answer => ({ refuse: { service: 'ledger', code, message, field } });

describe('payments → ledger', () => {
  it('a ledger BAD_USER_INPUT with a field path is an internal error: no ledger message or path reaches the caller', async () => {
    const { deps } = servicesAnswering(ledgerRefuses('BAD_USER_INPUT', 'Account acc_buyer holds USD, not EUR', 'input.accounts.0.amount.currency'));
    const error = await caught(services.authorizeHold(deps, hold));
    expect(error).toBeInstanceOf(ServiceContractError);
    expect(services.isUnavailable(error)).toBe(false);
    const seen = publicView(error);
    expect(seen).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(JSON.stringify(seen)).not.toMatch(/acc_|accounts|holds/);
  });

  it("an unfunded buyer is INSUFFICIENT_FUNDS in payments' words (the step fails the payment with it)", async () => {
    const { deps } = servicesAnswering(ledgerRefuses('INSUFFICIENT_FUNDS', 'The account does not have enough available funds.'));
    expect(publicView(await caught(services.authorizeHold(deps, hold)))).toEqual({ message: "The buyer's wallet does not have enough available funds.", extensions: { code: 'INSUFFICIENT_FUNDS' } });
  });

  it('a ledger INVALID_STATE on capture or void keeps its code (the step settles on the facts) without the hold id or path', async () => {
    const { deps } = servicesAnswering(ledgerRefuses('INVALID_STATE', 'Hold hld_7 is voided; only a pending hold can be captured.', 'input.holdId'));
    for (const call of [services.captureHold(deps, { paymentId: 'pay_1', holdId: 'hld_7', amount: 1500n }), services.voidHold(deps, 'hld_7')]) {
      const seen = publicView(await caught(call));
      expect(seen).toEqual({ message: "The payment's hold is no longer pending.", extensions: { code: 'INVALID_STATE' } });
    }
  });

  it("a capture key used with another amount keeps IDEMPOTENCY_KEY_REUSED, not the ledger's input.idempotencyKey", async () => {
    const { deps } = servicesAnswering(ledgerRefuses('IDEMPOTENCY_KEY_REUSED', 'This idempotency key was already used with different parameters.', 'input.idempotencyKey'));
    const seen = publicView(await caught(services.captureHold(deps, { paymentId: 'pay_1', holdId: 'hld_7', amount: 1n })));
    expect(seen.extensions).toEqual({ code: 'IDEMPOTENCY_KEY_REUSED' });
    // The same refusal on an authorization (its key is the payment's own) is a broken contract.
    expect(await caught(services.authorizeHold(deps, hold))).toBeInstanceOf(ServiceContractError);
  });

  it("a merchant without the funds for a refund is INSUFFICIENT_FUNDS in payments' words", async () => {
    const { deps } = servicesAnswering(ledgerRefuses('INSUFFICIENT_FUNDS', 'The account does not have enough available funds.'));
    const error = await caught(services.refundTransfer(deps, { refundId: 'ref_1', merchantAccountId: 'acc_merchant', buyerAccountId: 'acc_buyer', amount: 5n, currency: 'USD' }));
    expect(publicView(error)).toEqual({ message: 'The merchant no longer has the funds to refund this amount.', extensions: { code: 'INSUFFICIENT_FUNDS' } });
  });

  it('SERVICE_UNAVAILABLE passes through and counts as unavailable', async () => {
    const { deps } = servicesAnswering({ unavailable: true });
    const error = await caught(services.voidHold(deps, 'hld_7'));
    expect(services.isUnavailable(error)).toBe(true);
    expect(publicView(error).extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
  });

  it("looks up at most the ledger's own KEYS_PER_LOOKUP_MAX keys per call, never sending more", async () => {
    const { deps, sent } = servicesAnswering({ data: { ledgerTransactionsByKeys: [] } });
    const keys = Array.from({ length: KEYS_PER_LOOKUP_MAX + 1 }, (_, index) => services.ledgerKeys.capture(`pay_${index}`));
    await expect(services.ledgerMovements(deps, keys)).rejects.toThrow(`at most the ledger's ${KEYS_PER_LOOKUP_MAX} keys`);
    expect(sent).toEqual([]);
    await expect(services.ledgerMovements(deps, keys.slice(0, KEYS_PER_LOOKUP_MAX))).resolves.toEqual([]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ target: 'ledger', variables: { keys: keys.slice(0, KEYS_PER_LOOKUP_MAX) } });
  });
});

describe('payments → users, risk, wallet', () => {
  it("a malformed or unknown merchant id is no role (createOrder answers with its own input.merchantId), not users' error", async () => {
    for (const code of ['BAD_USER_INPUT', 'NOT_FOUND'] as const) {
      const { deps } = servicesAnswering({ refuse: { service: 'users', code, message: 'id is not a user id', field: 'id' } });
      await expect(services.userRole(deps, 'nope')).resolves.toBeNull();
    }
  });

  it('a risk or wallet refusal is an internal error (risk: the step fails closed), never their message', async () => {
    const risk = servicesAnswering({ refuse: { service: 'risk', code: 'NOT_FOUND', message: 'No user usr_1', field: 'input.userId' } });
    const riskError = await caught(services.assessRisk(risk.deps, { userId: 'usr_1', merchantId: 'usr_2', amount: 5n, currency: 'USD', paymentId: 'pay_1' }));
    expect(riskError).toBeInstanceOf(ServiceContractError);
    expect(services.isUnavailable(riskError)).toBe(false);
    const wallet = servicesAnswering({ refuse: { service: 'wallet', code: 'FORBIDDEN', message: 'wallet:open scope required', field: null } });
    const walletError = await caught(services.walletAccount(wallet.deps, 'usr_1', 'USD'));
    expect(publicView(walletError)).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });

  it('sends the typed operations with the request id and reads their results', async () => {
    const { deps, sent } = servicesAnswering({ data: { openWallet: { id: 'acc_9' } } });
    await expect(services.walletAccount(deps, 'usr_1', 'USD')).resolves.toBe('acc_9');
    expect(sent[0]!.query).toMatch(/mutation OpenWallet\(\$userId: ID!, \$currency: Currency!\)/);
    expect(sent[0]!.variables).toEqual({ userId: 'usr_1', currency: 'USD' });
  });
});
