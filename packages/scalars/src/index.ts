/**
 * The custom scalars every subgraph shares: Amount (bigint minor units as a decimal string),
 * Currency (active ISO 4217 code) and DateTime (ISO 8601 with a time zone).
 */
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { isCurrency, parseAmountString } from '@paygraph/money';

function literalString(ast: ValueNode, scalar: string): string {
  if (ast.kind !== Kind.STRING) throw new GraphQLError(`${scalar} must be given as a string`);
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

function parseCurrency(value: unknown): string {
  if (typeof value !== 'string' || !isCurrency(value)) {
    throw new GraphQLError(`Currency must be an active ISO 4217 code in upper case, e.g. "USD" (got ${JSON.stringify(value)?.slice(0, 20)})`);
  }
  return value;
}

export const CurrencyScalar = new GraphQLScalarType<string, string>({
  name: 'Currency',
  description: 'ISO 4217 currency code, e.g. "USD", "EUR", "JPY".',
  serialize: parseCurrency,
  parseValue: parseCurrency,
  parseLiteral: (ast) => parseCurrency(literalString(ast, 'Currency')),
});

/** Date-time with a mandatory zone designator (Z or ±hh:mm), as RFC 3339 requires. */
const isoDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !isoDateTime.test(value)) {
    throw new GraphQLError('DateTime must be an ISO 8601 string with a time zone, e.g. "2026-01-31T12:00:00Z"');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime is not a valid date');
  return date;
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

/** Resolver map entries for the scalars a subgraph declares. */
export const scalarResolvers = {
  Amount: AmountScalar,
  Currency: CurrencyScalar,
  DateTime: DateTimeScalar,
};
