// Proves each risk rule at its boundary (just below, at, just above), their combinations, the
// score range and that the decision is the strictest matched outcome, on the pure evaluator.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_RULE_SET, RULE_CODES, assertValidRuleSet, evaluate, type RiskFeatures, type RuleSet } from '../src/domain/rules';

const base: RiskFeatures = { amount: '1000', currency: 'USD', attemptsInWindow: 1, accountAgeMinutes: 100_000, selfPayment: false, blocklisted: false };
const check = (features: Partial<RiskFeatures>, rules: RuleSet = DEFAULT_RULE_SET) => evaluate({ ...base, ...features }, rules);

describe('AMOUNT_OVER_LIMIT', () => {
  it('reviews above 10,000 and declines above 50,000 (major units, USD cents)', () => {
    expect(check({ amount: '999999' })).toEqual({ decision: 'APPROVE', score: 0, reasons: [] });
    expect(check({ amount: '1000000' }).decision).toBe('APPROVE');
    expect(check({ amount: '1000001' })).toEqual({ decision: 'REVIEW', score: 35, reasons: ['AMOUNT_OVER_LIMIT'] });
    expect(check({ amount: '5000000' }).decision).toBe('REVIEW');
    expect(check({ amount: '5000001' })).toEqual({ decision: 'DECLINE', score: 70, reasons: ['AMOUNT_OVER_LIMIT'] });
  });

  it('uses the currency exponent: 10,000 JPY is 10000, 10,000 KWD is 10000000', () => {
    expect(check({ amount: '10000', currency: 'JPY' }).decision).toBe('APPROVE');
    expect(check({ amount: '10001', currency: 'JPY' }).decision).toBe('REVIEW');
    expect(check({ amount: '10000000', currency: 'KWD' }).decision).toBe('APPROVE');
    expect(check({ amount: '10000001', currency: 'KWD' }).decision).toBe('REVIEW');
  });

  it('takes a currency row over the DEFAULT row', () => {
    const rules: RuleSet = { ...DEFAULT_RULE_SET, thresholds: [...DEFAULT_RULE_SET.thresholds, { currency: 'JPY', amountReviewAbove: 1_500_000, amountDeclineAbove: 7_500_000, newAccountAmountAbove: 150_000 }] };
    expect(check({ amount: '1500000', currency: 'JPY' }, rules).decision).toBe('APPROVE');
    expect(check({ amount: '1500001', currency: 'JPY' }, rules).decision).toBe('REVIEW');
    expect(check({ amount: '1000001', currency: 'USD' }, rules).decision).toBe('REVIEW');
  });
});

describe('VELOCITY', () => {
  it('reviews more than 10 attempts in the window', () => {
    expect(check({ attemptsInWindow: 10 }).decision).toBe('APPROVE');
    expect(check({ attemptsInWindow: 11 })).toEqual({ decision: 'REVIEW', score: 30, reasons: ['VELOCITY'] });
  });
});

describe('NEW_ACCOUNT', () => {
  it('reviews an account younger than 24 hours paying above 1,000', () => {
    const young = 24 * 60 - 1;
    expect(check({ accountAgeMinutes: young, amount: '100000' }).decision).toBe('APPROVE');
    expect(check({ accountAgeMinutes: young, amount: '100001' })).toEqual({ decision: 'REVIEW', score: 25, reasons: ['NEW_ACCOUNT'] });
    expect(check({ accountAgeMinutes: 24 * 60, amount: '100001' }).decision).toBe('APPROVE');
  });
});

describe('SELF_PAYMENT and BLOCKLISTED', () => {
  it('decline', () => {
    expect(check({ selfPayment: true })).toEqual({ decision: 'DECLINE', score: 90, reasons: ['SELF_PAYMENT'] });
    expect(check({ blocklisted: true })).toEqual({ decision: 'DECLINE', score: 100, reasons: ['BLOCKLISTED'] });
  });
});

describe('combinations', () => {
  it('lists every matched rule, takes the strictest decision and caps the score at 100', () => {
    expect(check({ amount: '1000001', attemptsInWindow: 11, accountAgeMinutes: 5 })).toEqual({
      decision: 'REVIEW',
      score: 90,
      reasons: ['AMOUNT_OVER_LIMIT', 'VELOCITY', 'NEW_ACCOUNT'],
    });
    expect(check({ amount: '1000001', selfPayment: true })).toEqual({ decision: 'DECLINE', score: 100, reasons: ['AMOUNT_OVER_LIMIT', 'SELF_PAYMENT'] });
  });

  it('always scores 0-100, approves exactly when nothing matched, and declines only for a declining rule', () => {
    fc.assert(
      fc.property(
        fc.record({
          amount: fc.bigInt({ min: 1n, max: 999_999_999_999_999n }).map(String),
          currency: fc.constantFrom('USD', 'JPY', 'KWD', 'EUR'),
          attemptsInWindow: fc.integer({ min: 1, max: 50 }),
          accountAgeMinutes: fc.integer({ min: 0, max: 100_000 }),
          selfPayment: fc.boolean(),
          blocklisted: fc.boolean(),
        }),
        (features) => {
          const outcome = evaluate(features, DEFAULT_RULE_SET);
          expect(outcome.score).toBeGreaterThanOrEqual(0);
          expect(outcome.score).toBeLessThanOrEqual(100);
          expect(outcome.decision === 'APPROVE').toBe(outcome.reasons.length === 0);
          if (features.selfPayment || features.blocklisted) expect(outcome.decision).toBe('DECLINE');
          for (const reason of outcome.reasons) expect(RULE_CODES).toContain(reason);
        },
      ),
    );
  });
});

describe('assertValidRuleSet', () => {
  it('accepts the defaults and rejects nonsense with BAD_USER_INPUT', () => {
    expect(assertValidRuleSet(DEFAULT_RULE_SET)).toBe(DEFAULT_RULE_SET);
    const invalid: RuleSet[] = [
      { ...DEFAULT_RULE_SET, velocityMaxAttempts: 0 },
      { ...DEFAULT_RULE_SET, thresholds: [] },
      { ...DEFAULT_RULE_SET, thresholds: [{ currency: 'DEFAULT', amountReviewAbove: 10, amountDeclineAbove: 5, newAccountAmountAbove: 1 }] },
      { ...DEFAULT_RULE_SET, thresholds: [...DEFAULT_RULE_SET.thresholds, { currency: 'XYZ', amountReviewAbove: 1, amountDeclineAbove: 2, newAccountAmountAbove: 1 }] },
      { ...DEFAULT_RULE_SET, weights: { ...DEFAULT_RULE_SET.weights, VELOCITY: 101 } },
    ];
    for (const rules of invalid) expect(() => assertValidRuleSet(rules)).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
  });
});
