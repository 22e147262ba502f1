// Proves DateTime accepts only real calendar date-times in years 0001-9999 (issue 11): impossible
// days, hours and minutes, year 0000 and instants outside the range in UTC are refused, leap days
// and zone offsets are kept; checked through dateTimeProblem and the scalar's parseValue.
import { describe, expect, it } from 'vitest';
import { DateTimeScalar, dateTimeProblem } from '../src';

describe('DateTime calendar rules', () => {
  it.each([
    ['2026-02-31T25:61Z', /calendar date/],
    ['2026-02-28T25:00Z', /time of day/],
    ['2026-02-28T23:61Z', /time of day/],
    ['2026-02-28T23:59:60Z', /time of day/],
    ['2023-02-29T00:00:00Z', /calendar date/],
    ['2026-13-01T00:00:00Z', /calendar date/],
    ['2026-04-31T00:00:00Z', /calendar date/],
    ['2026-00-10T00:00:00Z', /calendar date/],
    ['0000-01-01T00:00:00Z', /between 0001 and 9999/],
    ['0001-01-01T00:00:00+01:00', /in UTC/],
    ['9999-12-31T23:00:00-02:00', /in UTC/],
    ['2026-01-01T00:00:00+24:00', /offset/],
    ['2026-01-01T00:00:00', /time zone/],
    ['2026-01-01T00:00:00Z\u0000', /time zone/],
  ])('refuses %s', (value, reason) => {
    expect(dateTimeProblem(value)).toMatch(reason);
    expect(() => DateTimeScalar.parseValue(value)).toThrow(reason);
  });

  it.each([
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29T12:30:00.5Z', '2000-02-29T12:30:00.500Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
    ['2026-01-31T12:00+05:30', '2026-01-31T06:30:00.000Z'],
  ])('accepts %s', (value, iso) => {
    expect(dateTimeProblem(value)).toBeNull();
    expect((DateTimeScalar.parseValue(value) as Date).toISOString()).toBe(iso);
  });
});
