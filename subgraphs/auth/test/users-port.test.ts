// Proves that auth's port to users answers users' refusals in auth's terms: an email users refuses
// as malformed is no user (login then answers as for a wrong password), any other refusal is an
// internal error the public formatter masks. Users is a fake service client refusing as the real one does.
import { describe, expect, it } from 'vitest';
import { publicViewOf as publicView, type ErrorCode } from '@paygraph/errors';
import { ServiceContractError } from '@paygraph/service-client';
import { answeringClient, refusingClient } from '@paygraph/service-client/testing';
import { usersPort } from '../src/ports/users';

const usersRefusing = (code: ErrorCode, message: string, field: string | null) => refusingClient('users', code, message, field);

describe("auth's port to users", () => {
  it('an email users refuses as malformed is no user', async () => {
    await expect(usersPort(usersRefusing('BAD_USER_INPUT', 'email is not an email address', 'email')).userByEmail('no-at-sign')).resolves.toBeNull();
  });

  it("any other users refusal is an internal error, never users' message", async () => {
    const client = usersRefusing('FORBIDDEN', 'users:read scope required', null);
    for (const call of [usersPort(client).userByEmail('a@example.com'), usersPort(client).userById('usr_1')]) {
      const error = await call.then(() => null, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(ServiceContractError);
      expect(publicView(error)).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    }
  });

  it('reads the typed user', async () => {
    const user = { id: 'usr_1', email: 'a@example.com', name: 'A', role: 'BUYER', createdAt: '2026-01-01T00:00:00.000Z' };
    const client = answeringClient({ user });
    await expect(usersPort(client).userById('usr_1')).resolves.toEqual(user);
    expect(client.sent[0]).toMatchObject({ service: 'users', variables: { id: 'usr_1' } });
  });
});
