/**
 * One assessment: what risk learns about the buyer comes from the users service (account age,
 * email domain), never from its tables. Any failure (users unreachable, risk's database down)
 * is an error for the caller to turn into a declined payment: risk never approves by default.
 */
import { apiError, ErrorCode } from '@paygraph/errors';
import { assertMovableAmount, type Money } from '@paygraph/money';
import type { LookupCache } from '@paygraph/server';
import type { ServiceClient } from '@paygraph/service-client';
import type { AssessmentRow } from './db/schema';
import { evaluate, type RiskFeatures } from './domain/rules';
import type { RiskStore } from './store/risk-store';
import { buyerOf, type Buyer } from './ports/users';

export type { Buyer } from './ports/users';

export interface AssessDeps {
  store: RiskStore;
  users: ServiceClient;
  requestId: string;
  /** Buyers' sign-up date and email, kept a minute: the sign-up date never changes. */
  buyers: LookupCache<Buyer | null>;
}

export const BUYER_CACHE_TTL_MS = 60_000;

export async function assess(
  deps: AssessDeps,
  input: { userId: string; amount: Money; merchantId: string | null; paymentId: string | null },
): Promise<AssessmentRow> {
  const amount = assertMovableAmount(input.amount, 'input.amount');
  const user = await deps.buyers.get(input.userId, () => buyerOf(deps.users, input.userId, deps.requestId));
  if (!user) throw apiError(ErrorCode.NOT_FOUND, `No user ${input.userId}`, { field: 'input.userId' });
  const current = user.email?.split('@')[1]?.toLowerCase();
  const emailDomains = [...new Set([...(current ? [current] : []), ...(user.emailDomains ?? []).map((domain) => domain.toLowerCase())])];
  const { ruleSet, blocklisted } = await deps.store.assessmentInputs(user.id, emailDomains);
  const accountAgeMinutes = Math.max(0, Math.floor((Date.now() - new Date(user.createdAt).getTime()) / 60_000));
  const recorded = await deps.store.recordAssessment({
    userId: user.id,
    merchantId: input.merchantId,
    paymentId: input.paymentId,
    amount: amount.amount,
    currency: amount.currency,
    ruleSet,
    decide: (attemptsInWindow) => {
      const features: RiskFeatures = {
        amount: amount.amount.toString(),
        currency: amount.currency,
        attemptsInWindow,
        accountAgeMinutes,
        selfPayment: input.merchantId !== null && input.merchantId === user.id,
        blocklisted,
      };
      return { features, outcome: evaluate(features, ruleSet.rules) };
    },
  });
  // The payment id keys one assessment per payment: asked again with another buyer, merchant or
  // amount, it is a key used with different parameters, never the first payment's decision.
  if (recorded.userId !== user.id || recorded.merchantId !== input.merchantId || recorded.amount !== amount.amount || recorded.currency !== amount.currency) {
    throw apiError(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'This payment was already assessed with other parameters (buyer, merchant or amount).', { field: 'input.paymentId' });
  }
  return recorded;
}
