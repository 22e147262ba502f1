// Proves that wallet's port to the ledger answers the ledger's refusals in a wallet caller's terms:
// INSUFFICIENT_FUNDS in wallet's words, a reused key on the caller's own input.idempotencyKey, a
// total past the ledger's bigint on the caller's amount, and
// any other ledger refusal (a BAD_USER_INPUT on the ledger's account path) an internal error the
// public formatter masks. The ledger is a fake service client refusing as the real one does.
import { describe, expect, it } from 'vitest';
import { OUT_OF_RANGE_MESSAGE, publicViewOf as publicView, type ErrorCode } from '@paygraph/errors';
import { ServiceContractError } from '@paygraph/service-client';
import { refusingClient } from '@paygraph/service-client/testing';
import { ledgerPort } from '../src/ports/ledger';

const ledgerRefusing = (code: ErrorCode, message: string, field: string | null) => refusingClient('ledger', code, message, field);

const transfer = { idempotencyKey: 'wallet:usr_1:k1', debitAccountId: 'acc_1', creditAccountId: 'acc_bank', amount: { amount: '501', currency: 'USD' }, description: 'Wallet withdrawal' };
const caught = (promise: Promise<unknown>) => promise.then(() => null, (error: unknown) => error);

describe("wallet's port to the ledger", () => {
  it("an unfunded withdrawal is INSUFFICIENT_FUNDS in wallet's words", async () => {
    const error = await caught(ledgerPort(ledgerRefusing('INSUFFICIENT_FUNDS', 'The account does not have enough available funds.', null)).transfer(transfer));
    expect(publicView(error)).toEqual({ message: 'Your wallet does not have enough available funds.', extensions: { code: 'INSUFFICIENT_FUNDS' } });
  });

  it("a reused key names the caller's input.idempotencyKey", async () => {
    const error = await caught(ledgerPort(ledgerRefusing('IDEMPOTENCY_KEY_REUSED', 'reused', 'input.idempotencyKey')).transfer(transfer));
    expect(publicView(error).extensions).toEqual({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'input.idempotencyKey' });
  });

  it("a total past the ledger's bigint (the out-of-range refusal) is BAD_USER_INPUT on the caller's amount", async () => {
    const error = await caught(ledgerPort(ledgerRefusing('BAD_USER_INPUT', OUT_OF_RANGE_MESSAGE, null)).transfer(transfer));
    expect(publicView(error)).toEqual({ message: OUT_OF_RANGE_MESSAGE, extensions: { code: 'BAD_USER_INPUT', field: 'input.amount.amount' } });
  });

  it("any other ledger refusal is an internal error: the ledger's message and account path never reach the caller", async () => {
    const client = ledgerRefusing('BAD_USER_INPUT', 'Account acc_1 holds USD, not EUR', 'input.accounts.0.amount.currency');
    for (const call of [ledgerPort(client).transfer(transfer), ledgerPort(client).openAccount('usr_1', 'EUR'), ledgerPort(client).systemAccount('EUR')]) {
      const error = await caught(call);
      expect(error).toBeInstanceOf(ServiceContractError);
      expect(publicView(error)).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    }
  });
});
