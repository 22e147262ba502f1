/**
 * Risk rules: pure evaluation of an attempt's features under a versioned rule set. Amount
 * thresholds are whole major units per currency (a `DEFAULT` row applies to the others), turned
 * into minor units with the currency's exponent. The decision is the strictest matched outcome;
 * the score sums the matched rules' weights, capped at 100.
 */
import { badUserInput } from '@paygraph/errors';
import { currencyExponent } from '@paygraph/money';

export type RiskDecision = 'APPROVE' | 'REVIEW' | 'DECLINE';
export type RuleCode = 'AMOUNT_OVER_LIMIT' | 'VELOCITY' | 'NEW_ACCOUNT' | 'SELF_PAYMENT' | 'BLOCKLISTED';
export const RULE_CODES: readonly RuleCode[] = ['AMOUNT_OVER_LIMIT', 'VELOCITY', 'NEW_ACCOUNT', 'SELF_PAYMENT', 'BLOCKLISTED'];

export interface CurrencyThresholds {
  /** `DEFAULT` or an ISO 4217 code. */
  currency: string;
  amountReviewAbove: number;
  amountDeclineAbove: number;
  newAccountAmountAbove: number;
}

export interface RuleSet {
  thresholds: CurrencyThresholds[];
  velocityMaxAttempts: number;
  velocityWindowMinutes: number;
  newAccountAgeHours: number;
  /** Score added when a rule matches; AMOUNT_OVER_LIMIT adds its weight twice when it declines. */
  weights: Record<RuleCode, number>;
}

export const DEFAULT_RULE_SET: RuleSet = {
  thresholds: [{ currency: 'DEFAULT', amountReviewAbove: 10_000, amountDeclineAbove: 50_000, newAccountAmountAbove: 1_000 }],
  velocityMaxAttempts: 10,
  velocityWindowMinutes: 10,
  newAccountAgeHours: 24,
  weights: { AMOUNT_OVER_LIMIT: 35, VELOCITY: 30, NEW_ACCOUNT: 25, SELF_PAYMENT: 90, BLOCKLISTED: 100 },
};

/** What an assessment knew when it decided; stored with it so it can be replayed. */
export interface RiskFeatures {
  amount: string;
  currency: string;
  /** Attempts by this buyer in the velocity window, this one included. */
  attemptsInWindow: number;
  accountAgeMinutes: number;
  selfPayment: boolean;
  blocklisted: boolean;
}

export interface RiskOutcome {
  decision: RiskDecision;
  score: number;
  reasons: RuleCode[];
}

const strictness: Record<RiskDecision, number> = { APPROVE: 0, REVIEW: 1, DECLINE: 2 };

function thresholdsFor(ruleSet: RuleSet, currency: string): CurrencyThresholds {
  return ruleSet.thresholds.find((row) => row.currency === currency) ?? ruleSet.thresholds.find((row) => row.currency === 'DEFAULT')!;
}

/** Whole major units to minor units of a currency. */
export function majorToMinor(major: number, currency: string): bigint {
  return BigInt(major) * 10n ** BigInt(currencyExponent(currency));
}

export function evaluate(features: RiskFeatures, ruleSet: RuleSet): RiskOutcome {
  const amount = BigInt(features.amount);
  const limits = thresholdsFor(ruleSet, features.currency);
  const matched: { code: RuleCode; decision: RiskDecision; weight: number }[] = [];
  if (amount > majorToMinor(limits.amountDeclineAbove, features.currency)) {
    matched.push({ code: 'AMOUNT_OVER_LIMIT', decision: 'DECLINE', weight: ruleSet.weights.AMOUNT_OVER_LIMIT * 2 });
  } else if (amount > majorToMinor(limits.amountReviewAbove, features.currency)) {
    matched.push({ code: 'AMOUNT_OVER_LIMIT', decision: 'REVIEW', weight: ruleSet.weights.AMOUNT_OVER_LIMIT });
  }
  if (features.attemptsInWindow > ruleSet.velocityMaxAttempts) matched.push({ code: 'VELOCITY', decision: 'REVIEW', weight: ruleSet.weights.VELOCITY });
  if (features.accountAgeMinutes < ruleSet.newAccountAgeHours * 60 && amount > majorToMinor(limits.newAccountAmountAbove, features.currency)) {
    matched.push({ code: 'NEW_ACCOUNT', decision: 'REVIEW', weight: ruleSet.weights.NEW_ACCOUNT });
  }
  if (features.selfPayment) matched.push({ code: 'SELF_PAYMENT', decision: 'DECLINE', weight: ruleSet.weights.SELF_PAYMENT });
  if (features.blocklisted) matched.push({ code: 'BLOCKLISTED', decision: 'DECLINE', weight: ruleSet.weights.BLOCKLISTED });

  const decision = matched.reduce<RiskDecision>((strictest, rule) => (strictness[rule.decision] > strictness[strictest] ? rule.decision : strictest), 'APPROVE');
  const score = Math.min(100, matched.reduce((sum, rule) => sum + rule.weight, 0));
  return { decision, score, reasons: matched.map((rule) => rule.code) };
}

const THRESHOLD_MAJOR_MAX = 1_000_000_000;

/** Checks a rule set an admin submits; every problem is a BAD_USER_INPUT naming the field. */
export function assertValidRuleSet(ruleSet: RuleSet): RuleSet {
  const wholeIn = (value: number, min: number, max: number, field: string) => {
    if (!Number.isInteger(value) || value < min || value > max) throw badUserInput(`${field} must be a whole number from ${min} to ${max}`, `input.${field}`);
  };
  wholeIn(ruleSet.velocityMaxAttempts, 1, 10_000, 'velocityMaxAttempts');
  wholeIn(ruleSet.velocityWindowMinutes, 1, 7 * 24 * 60, 'velocityWindowMinutes');
  wholeIn(ruleSet.newAccountAgeHours, 0, 24 * 365, 'newAccountAgeHours');
  if (!ruleSet.thresholds.some((row) => row.currency === 'DEFAULT')) throw badUserInput('thresholds need a DEFAULT row', 'input.thresholds');
  const seen = new Set<string>();
  for (const row of ruleSet.thresholds) {
    if (seen.has(row.currency)) throw badUserInput(`thresholds list ${row.currency} twice`, 'input.thresholds');
    seen.add(row.currency);
    if (row.currency !== 'DEFAULT') currencyExponentOrInput(row.currency);
    wholeIn(row.amountReviewAbove, 0, THRESHOLD_MAJOR_MAX, 'thresholds.amountReviewAbove');
    wholeIn(row.amountDeclineAbove, 0, THRESHOLD_MAJOR_MAX, 'thresholds.amountDeclineAbove');
    wholeIn(row.newAccountAmountAbove, 0, THRESHOLD_MAJOR_MAX, 'thresholds.newAccountAmountAbove');
    if (row.amountDeclineAbove < row.amountReviewAbove) throw badUserInput('amountDeclineAbove must not be below amountReviewAbove', 'input.thresholds');
  }
  for (const code of RULE_CODES) wholeIn(ruleSet.weights[code], 0, 100, `weights.${code}`);
  return ruleSet;
}

function currencyExponentOrInput(currency: string): number {
  try {
    return currencyExponent(currency);
  } catch {
    throw badUserInput(`Unknown currency ${currency}`, 'input.thresholds');
  }
}
