/**
 * The custom scalars every subgraph shares: Amount (bigint minor units as a decimal string),
 * Currency (active ISO 4217 code) and DateTime (ISO 8601 with a time zone).
 */
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { isCurrency, parseAmountString } from '@paygraph/money';

function literalString(ast: ValueNode, scalar: string): string {
  if (ast.kind !== Kind.STRING) throw new GraphQLError(notAStringLiteral(scalar));
  return ast.value;
}

function parseAmount(value: unknown): bigint {
  const parsed = parseAmountString(value);
  if (!parsed.ok) throw new GraphQLError(parsed.reason);
  return parsed.value;
}

export const AmountScalar = new GraphQLScalarType<bigint, string>({
  name: 'Amount',
  description: 'Integer minor units as a decimal string, e.g. "1999" is 19.99 USD. At most 18 digits.',
  serialize(value) {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'string') return parseAmount(value).toString();
    throw new GraphQLError('Amount can only serialize a bigint');
  },
  parseValue: parseAmount,
  parseLiteral: (ast) => parseAmount(literalString(ast, 'Amount')),
});

/** Why `value` is not a Currency (an active ISO 4217 code in upper case), or null. */
function currencyProblem(value: unknown): string | null {
  return typeof value === 'string' && isCurrency(value) ? null : `Currency must be an active ISO 4217 code in upper case, e.g. "USD" (got ${JSON.stringify(value)?.slice(0, 20)})`;
}

function parseCurrency(value: unknown): string {
  const problem = currencyProblem(value);
  if (problem) throw new GraphQLError(problem);
  return value as string;
}

export const CurrencyScalar = new GraphQLScalarType<string, string>({
  name: 'Currency',
  description: 'ISO 4217 currency code, e.g. "USD", "EUR", "JPY".',
  serialize: parseCurrency,
  parseValue: parseCurrency,
  parseLiteral: (ast) => parseCurrency(literalString(ast, 'Currency')),
});

/**
 * Date-time with a mandatory zone designator (Z or ±hh:mm), as RFC 3339 requires. The parts are
 * captured so the calendar can be checked: JavaScript's Date rolls 2026-02-31 over to March 3 and
 * PostgreSQL refuses year 0000, so neither may reach a store.
 */
const isoDateTime = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|([+-])(\d{2}):(\d{2}))$/;
export const DATE_TIME_YEAR_MIN = 1;
export const DATE_TIME_YEAR_MAX = 9999;
const DATE_TIME_FORMAT_MESSAGE = 'DateTime must be an ISO 8601 string with a time zone, e.g. "2026-01-31T12:00:00Z"';

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 1 : 0);
}

/** Why `value` is not an acceptable DateTime (a real calendar date-time in years 0001-9999), or null. */
export function dateTimeProblem(value: unknown): string | null {
  if (typeof value !== 'string') return DATE_TIME_FORMAT_MESSAGE;
  const match = isoDateTime.exec(value);
  if (!match) return DATE_TIME_FORMAT_MESSAGE;
  const [year, month, day, hour, minute] = [1, 2, 3, 4, 5].map((index) => Number(match[index]));
  const second = match[6] === undefined ? 0 : Number(match[6]);
  if (year! < DATE_TIME_YEAR_MIN || year! > DATE_TIME_YEAR_MAX) return `DateTime year must be between 0001 and 9999 (got ${match[1]})`;
  if (month! < 1 || month! > 12 || day! < 1 || day! > daysInMonth(year!, month!)) return `DateTime is not a calendar date (got ${value.slice(0, 10)})`;
  if (hour! > 23 || minute! > 59 || second > 59) return `DateTime is not a time of day (got ${value.slice(11, 19)})`;
  if (match[8] !== 'Z' && (Number(match[10]) > 23 || Number(match[11]) > 59)) return 'DateTime has an invalid zone offset';
  const instant = new Date(value);
  const utcYear = instant.getUTCFullYear();
  if (Number.isNaN(instant.getTime()) || utcYear < DATE_TIME_YEAR_MIN || utcYear > DATE_TIME_YEAR_MAX) return 'DateTime must fall in years 0001-9999 in UTC';
  return null;
}

function parseDateTime(value: unknown): Date {
  const problem = dateTimeProblem(value);
  if (problem) throw new GraphQLError(problem);
  return new Date(value as string);
}

export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'ISO 8601 date-time with a time zone, e.g. "2026-01-31T12:00:00.000Z".',
  serialize(value) {
    if (value instanceof Date) return value.toISOString();
    if (typeof value === 'string') return parseDateTime(value).toISOString();
    throw new GraphQLError('DateTime can only serialize a Date');
  },
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(literalString(ast, 'DateTime')),
});

/** The custom scalars' names: what scalarProblem checks. */
export const CUSTOM_SCALAR_NAMES: ReadonlySet<string> = new Set(['Amount', 'Currency', 'DateTime']);

/**
 * Why `value` (a variable's value, or a string literal's) is not acceptable as the custom scalar
 * `typeName`, as the scalar's own parsing would say; null when it is, or when `typeName` is no
 * custom scalar. The gateway's copies of these scalars accept anything (a supergraph carries no
 * scalar code), so its input check asks this before a subgraph is called.
 */
export function scalarProblem(typeName: string, value: unknown): string | null {
  if (typeName === 'Amount') {
    const parsed = parseAmountString(value);
    return parsed.ok ? null : parsed.reason;
  }
  if (typeName === 'Currency') return currencyProblem(value);
  if (typeName === 'DateTime') return dateTimeProblem(value);
  return null;
}

/** A custom scalar written as a literal that is not a string (`amount: 100`): what its parseLiteral says. */
export const notAStringLiteral = (typeName: string): string => `${typeName} must be given as a string`;

/** Resolver map entries for the scalars a subgraph declares. */
export const scalarResolvers = {
  Amount: AmountScalar,
  Currency: CurrencyScalar,
  DateTime: DateTimeScalar,
};
export { PRELUDE_FILE, withPrelude } from './prelude';
