// Production messages name no schema element the client did not write: graphql-js's "Did you mean"
// suggestions are taken out of every message (Apollo's own setting covers validation errors only).
import { describe, expect, it } from 'vitest';
import { withoutSuggestions } from '../src/apollo';

describe('withoutSuggestions', () => {
  it('takes one or several suggested names out of a message and keeps the rest', () => {
    expect(withoutSuggestions({ message: 'Variable "$i" got invalid value { emial: "x" }; Field "emial" is not defined by type "LoginInput". Did you mean "email"?' }).message).toBe(
      'Variable "$i" got invalid value { emial: "x" }; Field "emial" is not defined by type "LoginInput".',
    );
    expect(withoutSuggestions({ message: 'Cannot query field "nam" on type "User". Did you mean "name", "email", or "role"?' }).message).toBe('Cannot query field "nam" on type "User".');
    expect(withoutSuggestions({ message: 'Value "BUYR" does not exist in "UserRole" enum. Did you mean the enum value "BUYER"?', extensions: { code: 'BAD_USER_INPUT' } })).toEqual({
      message: 'Value "BUYR" does not exist in "UserRole" enum.',
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('leaves a message without suggestions as it is', () => {
    const formatted = { message: 'Your wallet does not have enough available funds.', extensions: { code: 'INSUFFICIENT_FUNDS' } };
    expect(withoutSuggestions(formatted)).toBe(formatted);
  });
});
