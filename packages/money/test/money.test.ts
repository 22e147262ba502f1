// Proves the money rules at their boundaries: movable amounts are 1..999999999999999 of a known
// currency, and exponents follow ISO 4217.
import { describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql';
import { assertMovableAmount, currencyExponent, formatMoney, MOVABLE_AMOUNT_MAX } from '../src';

describe('assertMovableAmount', () => {
  it.each([1n, 500n, MOVABLE_AMOUNT_MAX])('accepts %s', (amount) => {
    expect(assertMovableAmount({ amount, currency: 'USD' }, 'input.amount').amount).toBe(amount);
  });

  it.each([0n, -1n, MOVABLE_AMOUNT_MAX + 1n])('rejects %s with BAD_USER_INPUT naming the field', (amount) => {
    try {
      assertMovableAmount({ amount, currency: 'USD' }, 'input.amount');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(GraphQLError);
      expect((error as GraphQLError).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.amount.amount' });
    }
  });

  it('rejects an unknown currency', () => {
    expect(() => assertMovableAmount({ amount: 1n, currency: 'XYZ' }, 'amount')).toThrow(/Unknown currency/);
  });
});

describe('currencies', () => {
  it('knows the minor-unit exponents', () => {
    expect(currencyExponent('USD')).toBe(2);
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('KWD')).toBe(3);
    expect(() => currencyExponent('XXX')).toThrow();
  });

  it('formats for people without floating point', () => {
    expect(formatMoney({ amount: 1999n, currency: 'USD' })).toBe('19.99 USD');
    expect(formatMoney({ amount: 5n, currency: 'USD' })).toBe('0.05 USD');
    expect(formatMoney({ amount: 500n, currency: 'JPY' })).toBe('500 JPY');
    expect(formatMoney({ amount: 999999999999999999n, currency: 'KWD' })).toBe('999999999999999.999 KWD');
  });
});
