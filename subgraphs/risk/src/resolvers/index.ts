import { auditedChange } from '@paygraph/audit';
import { badUserInput, forbidden, notFound } from '@paygraph/errors';
import { isAdmin, requireAdminOrScope, requireAuthenticated, requireRole, type Viewer } from '@paygraph/identity';
import { scalarResolvers } from '@paygraph/scalars';
import type { AssessmentRow, RuleSetRow } from '../db/schema';
import { assertValidRuleSet, evaluate, RULE_CODES, type RuleCode, type RuleSet } from '../domain/rules';
import type { Resolvers } from '../generated/resolvers-types';
import { assess } from '../assess';

/** Scope of the services that ask for assessments (payments). */
export const RISK_ASSESS_SCOPE = 'risk:assess';
const EMAIL_DOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/;

/** The buyer, the merchant, admins and services may see an assessment. */
function canSee(viewer: Viewer, assessment: AssessmentRow): boolean {
  if (viewer.kind === 'service' || isAdmin(viewer)) return true;
  return viewer.kind === 'user' && (viewer.userId === assessment.userId || viewer.userId === assessment.merchantId);
}

function visible(viewer: Viewer, assessment: AssessmentRow | null): AssessmentRow | null {
  if (assessment && !canSee(viewer, assessment)) throw forbidden('You may not see this risk assessment.');
  return assessment;
}

function blocklistValue(kind: 'USER' | 'EMAIL_DOMAIN', raw: string): string {
  const value = raw.trim();
  if (kind === 'USER') {
    if (!/^[A-Za-z0-9_]{1,64}$/.test(value)) throw badUserInput('value must be a user id', 'input.value');
    return value;
  }
  const domain = value.toLowerCase();
  if (domain.length > 253 || !EMAIL_DOMAIN.test(domain)) throw badUserInput('value must be an email domain such as example.com', 'input.value');
  return domain;
}

export const resolvers: Resolvers = {
  ...scalarResolvers,
  Query: {
    riskAssessment: async (_parent, { id }, context) => {
      requireAdminOrScope(context.viewer, RISK_ASSESS_SCOPE);
      return context.loaders.assessmentById.load(id);
    },
    riskRules: async (_parent, _args, context) => {
      requireRole(context.viewer, 'ADMIN');
      return context.store.currentRuleSet();
    },
    riskBlocklist: async (_parent, _args, context) => {
      requireRole(context.viewer, 'ADMIN');
      return context.store.listBlocklist();
    },
  },
  Mutation: {
    assessRisk: async (_parent, { input }, context) => {
      requireAdminOrScope(context.viewer, RISK_ASSESS_SCOPE);
      return assess(context, { userId: input.userId, amount: input.amount, merchantId: input.merchantId ?? null, paymentId: input.paymentId ?? null });
    },
    updateRiskRules: async (_parent, { input }, context) => {
      const admin = requireRole(context.viewer, 'ADMIN');
      const named = new Set<string>();
      for (const { code } of input.weights ?? []) {
        if (!RULE_CODES.includes(code as RuleCode)) throw badUserInput(`Unknown rule ${code}`, 'input.weights');
        // Two weights for one rule would leave the result to their order: refused, not "last one wins".
        if (named.has(code)) throw badUserInput(`The rule ${code} is given more than one weight`, 'input.weights');
        named.add(code);
      }
      // The change is applied to the version in force under the rule sets' lock (saveRuleSet), so
      // concurrent partial changes each build on the one before.
      const change = (current: RuleSet): RuleSet => {
        const weights = { ...current.weights };
        for (const { code, weight } of input.weights ?? []) weights[code as RuleCode] = weight;
        return assertValidRuleSet({
          thresholds: input.thresholds ?? current.thresholds,
          velocityMaxAttempts: input.velocityMaxAttempts ?? current.velocityMaxAttempts,
          velocityWindowMinutes: input.velocityWindowMinutes ?? current.velocityWindowMinutes,
          newAccountAgeHours: input.newAccountAgeHours ?? current.newAccountAgeHours,
          weights,
        });
      };
      // The record commits with the new version (packages/audit: auditedChange).
      return auditedChange(
        context.audit,
        context,
        (saved: RuleSetRow) => ({ type: 'risk.rules_updated', actorId: admin.userId, subjectId: `rules:${saved.version}`, outcome: 'SUCCESS' }),
        (audit) => context.store.saveRuleSet(change, admin.userId, audit),
      );
    },
    replayRiskAssessment: async (_parent, { id }, context) => {
      requireRole(context.viewer, 'ADMIN');
      const original = await context.loaders.assessmentById.load(id);
      if (!original) throw notFound(`No risk assessment ${id}.`);
      const ruleSet = await context.store.currentRuleSet();
      const current = { ...evaluate(original.features, ruleSet.rules), ruleSetVersion: ruleSet.version };
      const changed = current.decision !== original.decision || current.score !== original.score || current.reasons.join() !== original.reasons.join();
      return { original, current, changed };
    },
    addToBlocklist: async (_parent, { input }, context) => {
      const admin = requireRole(context.viewer, 'ADMIN');
      const value = blocklistValue(input.kind, input.value);
      return auditedChange(
        context.audit,
        context,
        () => ({ type: 'risk.blocklist_added', actorId: admin.userId, subjectId: `${input.kind}:${value}`, outcome: 'SUCCESS' }),
        (audit) => context.store.addToBlocklist({ kind: input.kind, value, createdBy: admin.userId }, audit),
      );
    },
    removeFromBlocklist: async (_parent, { input }, context) => {
      const admin = requireRole(context.viewer, 'ADMIN');
      const value = blocklistValue(input.kind, input.value);
      return auditedChange(
        context.audit,
        context,
        () => ({ type: 'risk.blocklist_removed', actorId: admin.userId, subjectId: `${input.kind}:${value}`, outcome: 'SUCCESS' }),
        (audit) => context.store.removeFromBlocklist(input.kind, value, audit),
      );
    },
  },
  RiskAssessment: {
    __resolveReference: async (reference, context) => {
      requireAuthenticated(context.viewer);
      return visible(context.viewer, await context.loaders.assessmentById.load(reference.id));
    },
    features: (assessment) => ({
      ...assessment.features,
      amount: { amount: BigInt(assessment.features.amount), currency: assessment.features.currency },
    }),
  },
  Payment: {
    __resolveReference: (reference) => ({ id: reference.id }),
    riskAssessment: async (payment, _args, context) => {
      requireAuthenticated(context.viewer);
      return visible(context.viewer, await context.loaders.assessmentByPaymentId.load(payment.id));
    },
  },
  RiskRuleSet: {
    thresholds: (row) => row.rules.thresholds,
    velocityMaxAttempts: (row) => row.rules.velocityMaxAttempts,
    velocityWindowMinutes: (row) => row.rules.velocityWindowMinutes,
    newAccountAgeHours: (row) => row.rules.newAccountAgeHours,
    weights: (row) => RULE_CODES.map((code) => ({ code, weight: row.rules.weights[code] })),
  },
};
