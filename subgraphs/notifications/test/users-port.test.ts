// Proves that notifications' port to users answers users' refusals in notifications' terms: an id
// users refuses as malformed or does not know is nobody to notify (the event is not retried for
// ever), any other refusal is an internal error (the event comes again) that the public formatter
// masks. Users is a fake service client refusing as the real one does.
import { describe, expect, it } from 'vitest';
import { publicViewOf as publicView, type ErrorCode } from '@paygraph/errors';
import { ServiceContractError } from '@paygraph/service-client';
import { refusingClient } from '@paygraph/service-client/testing';
import { recipientOf } from '../src/ports/users';

const usersRefusing = (code: ErrorCode, field: string | null) => refusingClient('users', code, `users says ${code} about usr_x`, field);

describe("notifications' port to users", () => {
  it('a malformed or unknown id is nobody to notify', async () => {
    await expect(recipientOf(usersRefusing('BAD_USER_INPUT', 'id'), 'usr_x')).resolves.toBeNull();
    await expect(recipientOf(usersRefusing('NOT_FOUND', null), 'usr_x')).resolves.toBeNull();
  });

  it("any other refusal is an internal error, never users' message", async () => {
    const error = await recipientOf(usersRefusing('UNAUTHENTICATED', null), 'usr_x').then(() => null, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(ServiceContractError);
    expect(publicView(error)).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });
});
