// Proves that risk's port to users answers users' refusals in risk's terms: an id users does not
// know is no buyer (assess then answers NOT_FOUND on its own input.userId), a malformed one is
// BAD_USER_INPUT on input.userId, any other refusal is an internal error (payments fails closed
// on it) that the public formatter masks. Users is a fake service client refusing as the real one does.
import { describe, expect, it } from 'vitest';
import { publicViewOf as publicView, type ErrorCode } from '@paygraph/errors';
import { ServiceContractError } from '@paygraph/service-client';
import { refusingClient } from '@paygraph/service-client/testing';
import { buyerOf } from '../src/ports/users';

const usersRefusing = (code: ErrorCode, field: string | null) => refusingClient('users', code, `users says ${code} about usr_x`, field);

describe("risk's port to users", () => {
  it("an unknown id is no buyer; a malformed one is BAD_USER_INPUT on assess's input.userId, not users' id", async () => {
    await expect(buyerOf(usersRefusing('NOT_FOUND', null), 'usr_x')).resolves.toBeNull();
    const error = await buyerOf(usersRefusing('BAD_USER_INPUT', 'id'), 'x').then(() => null, (caught: unknown) => caught);
    expect(publicView(error)).toEqual({ message: 'input.userId is not a user id', extensions: { code: 'BAD_USER_INPUT', field: 'input.userId' } });
  });

  it("any other refusal is an internal error, never users' message", async () => {
    const error = await buyerOf(usersRefusing('FORBIDDEN', null), 'usr_x').then(() => null, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(ServiceContractError);
    expect(publicView(error)).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });
});
