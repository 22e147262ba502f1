// Proves the masking every server uses: public codes keep their message and safe extensions;
// anything else, and every stack trace, SQL text or downstream detail, never reaches a client.
import { describe, expect, it, vi } from 'vitest';
import { GraphQLError } from 'graphql';
import { ErrorCode, badUserInput, maskError, withHttpStatus } from '../src';

describe('maskError', () => {
  it('keeps a public error with its code and field', () => {
    const error = badUserInput('Email is not a valid address', 'input.email');
    const masked = maskError({ message: error.message, path: ['registerUser'], extensions: { ...error.extensions, stacktrace: ['at x'] } }, error);
    expect(masked).toEqual({ message: 'Email is not a valid address', path: ['registerUser'], extensions: { code: 'BAD_USER_INPUT', field: 'input.email' } });
  });

  it('masks an unexpected error, including SQL in its message, and reports it', () => {
    const onInternalError = vi.fn();
    const original = new Error('duplicate key value violates unique constraint "users_email_unique" SELECT * FROM users.users');
    const masked = maskError(
      { message: original.message, extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['Error: ...', '    at db.ts:1'] } },
      original,
      { onInternalError, requestId: 'req-1' },
    );
    expect(masked).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'req-1' } });
    expect(JSON.stringify(masked)).not.toMatch(/SELECT|constraint|at db/);
    expect(onInternalError).toHaveBeenCalledWith(original, expect.anything());
  });

  it('masks an error whose code is not in the closed list', () => {
    const masked = maskError({ message: 'secret=abc', extensions: { code: 'SOMETHING_ELSE' } }, new Error('x'));
    expect(masked.message).toBe('Internal server error');
  });

  it('drops downstream details a gateway error carries (subgraph URL, response body)', () => {
    const masked = maskError(
      { message: 'Invalid email or password.', extensions: { code: 'UNAUTHENTICATED', serviceName: 'auth', response: { url: 'http://127.0.0.1:4002/graphql', body: {} } } },
      new Error(),
    );
    expect(masked.extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });

  it('keeps request errors from graphql-js (they describe the request, not the server)', () => {
    const masked = maskError({ message: 'Cannot query field "x" on type "Query".', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }, new Error());
    expect(masked.message).toBe('Cannot query field "x" on type "Query".');
  });
});

describe('withHttpStatus', () => {
  it('gives a context-level UNAUTHENTICATED error HTTP 401', () => {
    const error = withHttpStatus(new GraphQLError('bad token', { extensions: { code: ErrorCode.UNAUTHENTICATED } })) as GraphQLError;
    expect(error.extensions.http).toEqual({ status: 401 });
  });

  it('leaves unknown errors alone', () => {
    const original = new Error('boom');
    expect(withHttpStatus(original)).toBe(original);
  });
});
