/**
 * Money: integer minor units (bigint) with an ISO 4217 currency, everywhere. No floating point.
 */
import { badUserInput } from '@paygraph/errors';
import { currencyExponent, isCurrency } from './currencies';

export { currencyExponent, isCurrency } from './currencies';

export interface Money {
  amount: bigint;
  currency: string;
}

/** Longest decimal string the `Amount` scalar accepts: fits a Postgres bigint. */
export const AMOUNT_DIGITS_MAX = 18;
/** Largest amount a single money-moving command may carry (15 digits). */
export const MOVABLE_AMOUNT_MAX = 999_999_999_999_999n;

const plainInteger = /^(0|[1-9][0-9]*)$/;

export type AmountParseResult = { ok: true; value: bigint } | { ok: false; reason: string };

/**
 * Parses the wire form of an amount: a string of decimal digits, no sign, no leading zeros, no
 * exponent or fraction, at most 18 digits.
 */
export function parseAmountString(input: unknown): AmountParseResult {
  if (typeof input !== 'string') {
    return { ok: false, reason: 'Amount must be a string of integer minor units, e.g. "1999" for 19.99 USD' };
  }
  if (input.length === 0) return { ok: false, reason: 'Amount must not be blank' };
  if (input.length > AMOUNT_DIGITS_MAX) {
    return { ok: false, reason: `Amount must have at most ${AMOUNT_DIGITS_MAX} digits` };
  }
  if (!plainInteger.test(input)) {
    return {
      ok: false,
      reason: 'Amount must be a plain integer of minor units (digits only: no sign, decimal point, exponent or spaces)',
    };
  }
  return { ok: true, value: BigInt(input) };
}

/**
 * Validates the amount of a command that moves money: positive and at most MOVABLE_AMOUNT_MAX.
 * `field` names the input field for the error.
 */
export function assertMovableAmount(money: Money, field: string): Money {
  if (!isCurrency(money.currency)) throw badUserInput(`Unknown currency ${money.currency}`, `${field}.currency`);
  if (money.amount <= 0n) throw badUserInput('Amount must be greater than zero', `${field}.amount`);
  if (money.amount > MOVABLE_AMOUNT_MAX) {
    throw badUserInput(`Amount must be at most ${MOVABLE_AMOUNT_MAX}`, `${field}.amount`);
  }
  return money;
}

/** Formats minor units as a major-unit decimal string for people (never for arithmetic). */
export function formatMoney(money: Money): string {
  const exponent = currencyExponent(money.currency);
  const digits = money.amount.toString().padStart(exponent + 1, '0');
  const major = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return `${major} ${money.currency}`;
}
