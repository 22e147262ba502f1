// Proves that users' port to auth answers auth's refusals in a users caller's terms: a password
// auth's policy refuses is BAD_USER_INPUT on the registering user's input.password (auth's
// message says what the password lacks); any other auth refusal is an internal error the public
// formatter masks. Auth is a fake service client refusing as the real one does.
import { describe, expect, it } from 'vitest';
import { publicViewOf as publicView, type ErrorCode } from '@paygraph/errors';
import { ServiceContractError } from '@paygraph/service-client';
import { refusingClient } from '@paygraph/service-client/testing';
import { authPort } from '../src/ports/auth';

const authRefusing = (code: ErrorCode, message: string, field: string | null) => refusingClient('auth', code, message, field);
const caught = (promise: Promise<unknown>) => promise.then(() => null, (error: unknown) => error);

describe("users' port to auth", () => {
  it("a refused password is BAD_USER_INPUT on the caller's input.password, not auth's argument", async () => {
    const error = await caught(authPort(authRefusing('BAD_USER_INPUT', 'Password must be at least 12 characters', 'password')).setPassword('usr_1', 'short'));
    expect(publicView(error)).toEqual({ message: 'Password must be at least 12 characters', extensions: { code: 'BAD_USER_INPUT', field: 'input.password' } });
  });

  it("any other auth refusal is an internal error: auth's message and argument never reach the caller", async () => {
    const client = authRefusing('BAD_USER_INPUT', 'userId usr_1 is not a prefixed id', 'userId');
    for (const call of [authPort(client).setPassword('usr_1', 'a long enough password'), authPort(client).verifyPassword('usr_1', 'x'), authPort(client).deleteCredential('usr_1')]) {
      const error = await caught(call);
      expect(error).toBeInstanceOf(ServiceContractError);
      expect(publicView(error)).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    }
  });
});
