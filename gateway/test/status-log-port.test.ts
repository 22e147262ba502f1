// Proves that the gateway's port to the payments log answers payments' refusals in a subscriber's
// terms: an `after` older than the retained log stays BAD_USER_INPUT on the subscriber's own
// `after`, any other refusal is an internal error the public formatter masks, and a page larger
// than the log's own STATUS_LOG_PAGE_MAX is never asked for (it would come back clamped and read as
// the end of the log). Payments is a fake service client refusing as the real one does.
import { describe, expect, it } from 'vitest';
import { publicViewOf } from '@paygraph/errors';
import { STATUS_LOG_PAGE_MAX } from '@paygraph/events';
import { ServiceContractError } from '@paygraph/service-client';
import { answeringClient, refusingClient } from '@paygraph/service-client/testing';
import { readPaymentStatusLog } from '../src/subscriptions/http';

const everyone = { paymentId: null, userId: null };
const caught = (promise: Promise<unknown>) => promise.then(() => null, (error: unknown) => error);

describe("the gateway's port to the payments log", () => {
  it("an after older than the retained log stays the subscriber's BAD_USER_INPUT on after", async () => {
    const message = 'after is older than the retained event log: the oldest sequence you can resume after is 2';
    const error = await caught(readPaymentStatusLog(refusingClient('payments', 'BAD_USER_INPUT', message, 'after'))(0n, everyone, 10));
    expect(publicViewOf(error)).toEqual({ message, extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
  });

  it("any other refusal is an internal error, never payments' message", async () => {
    const error = await caught(readPaymentStatusLog(refusingClient('payments', 'BAD_USER_INPUT', 'first must be positive', 'first'))(0n, everyone, 10));
    expect(error).toBeInstanceOf(ServiceContractError);
    expect(publicViewOf(error)).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });

  it("asks for at most the log's own page, with the sequence as a string, and reads sequences as bigint", async () => {
    const change = { sequence: '7', paymentId: 'pay_1', buyerId: 'usr_1', merchantId: 'usr_2', status: 'SUCCEEDED', previousStatus: 'AUTHORIZED', occurredAt: '2026-01-01T00:00:00.000Z' };
    const client = answeringClient({ paymentStatusLog: [change] });
    const read = readPaymentStatusLog(client);
    await expect(read(6n, everyone, STATUS_LOG_PAGE_MAX + 1)).rejects.toThrow(`at most ${STATUS_LOG_PAGE_MAX} changes`);
    expect(client.sent).toEqual([]);
    await expect(read(6n, everyone, STATUS_LOG_PAGE_MAX)).resolves.toEqual([{ ...change, sequence: 7n }]);
    expect(client.sent[0]!.variables).toEqual({ after: '6', paymentId: null, userId: null, first: STATUS_LOG_PAGE_MAX });
  });
});
