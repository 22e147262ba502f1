// Production messages name no schema element the client did not write: graphql-js's "Did you mean"
// suggestions are taken out of every message (Apollo's own setting covers validation errors only).
import { describe, expect, it } from 'vitest';
import { withoutSuggestions, withVariableField } from '../src/apollo';

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

describe('withVariableField', () => {
  const coercion = (message: string) => withVariableField({ message, extensions: { code: 'BAD_USER_INPUT' } }).extensions;

  it("names the path inside a variable graphql-js could not coerce, as graphql-js prints it", () => {
    expect(coercion('Variable "$input" got invalid value "1.5" at "input.amount.amount"; Expected type "Amount". Amount must be a plain integer string')).toEqual({ code: 'BAD_USER_INPUT', field: 'input.amount.amount' });
    expect(coercion('Variable "$i" got invalid value { emial: "x" }; Field "emial" is not defined by type "LoginInput".')).toEqual({ code: 'BAD_USER_INPUT', field: 'i' });
    expect(coercion('Variable "$ids" got invalid value "x" at "ids[2]"; Expected type "ID".')).toEqual({ code: 'BAD_USER_INPUT', field: 'ids[2]' });
    // A value that itself reads ` at "...";` does not fool it: the path starts with the variable's name.
    expect(coercion('Variable "$d" got invalid value "a at \\"b\\"; c"; Expected type "Int".')).toEqual({ code: 'BAD_USER_INPUT', field: 'd' });
  });

  it('leaves other errors, and a field already named, as they are', () => {
    const named = { message: 'Variable "$input" got invalid value 1 at "input.amount"; no', extensions: { code: 'BAD_USER_INPUT', field: 'input.amount.amount' } };
    expect(withVariableField(named)).toBe(named);
    const other = { message: 'Variable "$x" got invalid value 1; nope', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    expect(withVariableField(other)).toBe(other);
    const plain = { message: 'The order is not payable.', extensions: { code: 'BAD_USER_INPUT' } };
    expect(withVariableField(plain)).toBe(plain);
  });
});
