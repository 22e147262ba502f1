// Proves the wire scalars accept exactly the documented forms: Amount as a plain integer string of
// at most 18 digits, Currency as an active ISO 4217 code, DateTime with a zone, via graphql-js itself.
import { describe, expect, it } from 'vitest';
import { buildSchema, graphql, type GraphQLSchema } from 'graphql';
import { AmountScalar, CurrencyScalar, DateTimeScalar } from '../src';

function schemaWithScalars(): GraphQLSchema {
  const schema = buildSchema(`
    scalar Amount
    scalar Currency
    scalar DateTime
    type Query { echo(amount: Amount, currency: Currency, at: DateTime): String  big: Amount  when: DateTime }
  `);
  Object.assign(schema.getType('Amount')!, AmountScalar);
  Object.assign(schema.getType('Currency')!, CurrencyScalar);
  Object.assign(schema.getType('DateTime')!, DateTimeScalar);
  return schema;
}

const schema = schemaWithScalars();
const rootValue = {
  echo: (args: { amount?: bigint; currency?: string; at?: Date }) =>
    JSON.stringify({ amount: args.amount?.toString(), amountType: typeof args.amount, currency: args.currency, at: args.at?.toISOString() }),
  big: () => 123456789012345678n,
  when: () => new Date('2026-01-31T12:00:00Z'),
};

async function echo(variables: Record<string, unknown>) {
  return graphql({ schema, rootValue, source: 'query($a: Amount, $c: Currency, $t: DateTime) { echo(amount: $a, currency: $c, at: $t) }', variableValues: variables });
}

describe('Amount', () => {
  it.each(['0', '1', '1999', '999999999999999', '999999999999999999'])('accepts %s as a bigint', async (value) => {
    const result = await echo({ a: value });
    expect(result.errors).toBeUndefined();
    expect(JSON.parse(result.data!.echo as string)).toMatchObject({ amount: value, amountType: 'bigint' });
  });

  it.each([
    ['a float', '19.99'],
    ['an exponent', '1e3'],
    ['a negative sign', '-5'],
    ['a plus sign', '+5'],
    ['blank', ''],
    ['spaces', ' 12'],
    ['19 digits', '1000000000000000000'],
    ['leading zeros', '007'],
    ['hex', '0x10'],
    ['a JSON number', 1999],
    ['a JSON float', 19.99],
    ['null-ish text', 'null'],
  ])('rejects %s', async (_label, value) => {
    const result = await echo({ a: value });
    expect(result.errors?.[0]?.message).toMatch(/Amount/);
    expect(result.data).toBeUndefined();
  });

  it('rejects a literal that is not a string', async () => {
    const result = await graphql({ schema, rootValue, source: '{ echo(amount: 100) }' });
    expect(result.errors?.[0]?.message).toMatch(/string/);
  });

  it('serializes bigint as a decimal string without losing precision', async () => {
    const result = await graphql({ schema, rootValue, source: '{ big }' });
    expect(result.data).toEqual({ big: '123456789012345678' });
  });
});

describe('Currency', () => {
  it.each(['USD', 'EUR', 'JPY', 'KWD'])('accepts %s', async (code) => {
    const result = await echo({ c: code });
    expect(result.errors).toBeUndefined();
  });

  it.each(['usd', 'XXX', 'ABC', 'US', '', 'USDD', 'DEM'])('rejects %j', async (code) => {
    const result = await echo({ c: code });
    expect(result.errors?.[0]?.message).toMatch(/Currency/);
  });
});

describe('DateTime', () => {
  it('accepts ISO 8601 with a zone and serializes to UTC', async () => {
    const result = await echo({ t: '2026-01-31T13:00:00+01:00' });
    expect(JSON.parse(result.data!.echo as string).at).toBe('2026-01-31T12:00:00.000Z');
    const when = await graphql({ schema, rootValue, source: '{ when }' });
    expect(when.data).toEqual({ when: '2026-01-31T12:00:00.000Z' });
  });

  it.each(['2026-01-31T12:00:00', '2026-01-31', 'yesterday', '2026-13-45T99:00:00Z'])('rejects %j', async (value) => {
    const result = await echo({ t: value });
    expect(result.errors?.[0]?.message).toMatch(/DateTime|valid date/);
  });
});
