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
  const coercion = (message: string) => withVariableField({ message, extensions: { code: 'BAD_USER_INPUT' } });

  it("names the path inside a variable graphql-js could not coerce, as graphql-js prints it", () => {
    expect(coercion('Variable "$input" got invalid value "1.5" at "input.amount.amount"; Expected type "Amount". Amount must be a plain integer string').extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.amount.amount' });
    expect(coercion('Variable "$i" got invalid value { emial: "x" }; Field "emial" is not defined by type "LoginInput".').extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'i' });
    expect(coercion('Variable "$ids" got invalid value "x" at "ids[2]"; Expected type "ID".').extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'ids[2]' });
    // A value that itself reads ` at "...";` does not fool it: the value is read to its end first.
    expect(coercion('Variable "$d" got invalid value "a at \\"b\\"; c"; Expected type "Int".').extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'd' });
  });

  it('never repeats the value sent: a password beside a misspelt field stays out of the message', () => {
    // graphql-js 16's own message for LoginInput with an unknown field: it prints the whole object.
    const sent = 'Variable "$i" got invalid value { email: "x@y.test", password: "my-secret; at \\"i.x\\"; password", otp: "1" }; Field "otp" is not defined by type "LoginInput".';
    expect(coercion(sent)).toEqual({ message: 'Variable "$i" got invalid value; Field "otp" is not defined by type "LoginInput".', extensions: { code: 'BAD_USER_INPUT', field: 'i' } });
    const nested = 'Variable "$i" got invalid value { password: "hunter2", nested: { a: [1, "b]"] } } at "i.nested.a[1]"; Int cannot represent non-integer value: "b]"';
    expect(coercion(nested)).toEqual({ message: 'Variable "$i" got invalid value at "i.nested.a[1]"; Int cannot represent non-integer value.', extensions: { code: 'BAD_USER_INPUT', field: 'i.nested.a[1]' } });
    // A built-in scalar's own refusal repeats the value it refused.
    expect(coercion('Variable "$i" got invalid value { password: { x: "hunter2" } } at "i.password"; String cannot represent a non string value: { x: "hunter2" }').message).toBe(
      'Variable "$i" got invalid value at "i.password"; String cannot represent a non string value.',
    );
    expect(coercion('Variable "$c" got invalid value 5; Enum "Currency" cannot represent non-string value: 5.').message).toBe('Variable "$c" got invalid value; Enum "Currency" cannot represent non-string value.');
  });

  it('leaves other errors as they are, and keeps a field already named', () => {
    const named = { message: 'Variable "$input" got invalid value 1 at "input.amount"; no', extensions: { code: 'BAD_USER_INPUT', field: 'input.amount.amount' } };
    expect(withVariableField(named)).toEqual({ message: 'Variable "$input" got invalid value at "input.amount"; no', extensions: { code: 'BAD_USER_INPUT', field: 'input.amount.amount' } });
    const other = { message: 'Variable "$x" got invalid value 1; nope', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    expect(withVariableField(other)).toBe(other);
    const plain = { message: 'The order is not payable.', extensions: { code: 'BAD_USER_INPUT' } };
    expect(withVariableField(plain)).toBe(plain);
    const notProvided = { message: 'Variable "$i" of required type "LoginInput!" was not provided.', extensions: { code: 'BAD_USER_INPUT' } };
    expect(withVariableField(notProvided)).toBe(notProvided);
  });
});
