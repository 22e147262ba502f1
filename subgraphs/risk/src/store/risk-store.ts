/** The only place with SQL for risk. */
import { and, desc, eq, gt, inArray, or, sql } from 'drizzle-orm';
import { newId, type Database } from '@paygraph/db';
import { DEFAULT_RULE_SET, type RiskFeatures, type RiskOutcome, type RuleSet } from '../domain/rules';
import { assessments, blocklist, ruleSets, type AssessmentRow, type BlocklistRow, type RuleSetRow, type schema } from '../db/schema';

const RULES_LOCK = 727_172_101;

export function createRiskStore(db: Database<typeof schema>) {
  return {
    /** The rule set in force; version 1 (the defaults) is created on first use. */
    async currentRuleSet(): Promise<RuleSetRow> {
      const [current] = await db.select().from(ruleSets).orderBy(desc(ruleSets.version)).limit(1);
      if (current) return current;
      await db.insert(ruleSets).values({ version: 1, rules: DEFAULT_RULE_SET, createdBy: 'system' }).onConflictDoNothing();
      return (await db.select().from(ruleSets).orderBy(desc(ruleSets.version)).limit(1))[0]!;
    },

    /** Appends a new version; concurrent changes get consecutive versions. */
    async saveRuleSet(rules: RuleSet, createdBy: string): Promise<RuleSetRow> {
      return db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${RULES_LOCK})`);
        const [latest] = await tx.select({ version: ruleSets.version }).from(ruleSets).orderBy(desc(ruleSets.version)).limit(1);
        const [saved] = await tx.insert(ruleSets).values({ version: (latest?.version ?? 0) + 1, rules, createdBy }).returning();
        return saved!;
      });
    },

    async isBlocklisted(userId: string, emailDomain: string | null): Promise<boolean> {
      const conditions = [and(eq(blocklist.kind, 'USER'), eq(blocklist.value, userId))];
      if (emailDomain) conditions.push(and(eq(blocklist.kind, 'EMAIL_DOMAIN'), eq(blocklist.value, emailDomain)));
      const [hit] = await db.select({ kind: blocklist.kind }).from(blocklist).where(or(...conditions)).limit(1);
      return hit !== undefined;
    },

    async addToBlocklist(entry: Pick<BlocklistRow, 'kind' | 'value' | 'createdBy'>): Promise<BlocklistRow> {
      await db.insert(blocklist).values(entry).onConflictDoNothing();
      const [row] = await db.select().from(blocklist).where(and(eq(blocklist.kind, entry.kind), eq(blocklist.value, entry.value)));
      return row!;
    },

    async removeFromBlocklist(kind: BlocklistRow['kind'], value: string): Promise<boolean> {
      const removed = await db.delete(blocklist).where(and(eq(blocklist.kind, kind), eq(blocklist.value, value))).returning({ value: blocklist.value });
      return removed.length > 0;
    },

    async listBlocklist(): Promise<BlocklistRow[]> {
      return db.select().from(blocklist).orderBy(blocklist.kind, blocklist.value);
    },

    /**
     * Records an assessment. Attempts of one buyer are serialized by an advisory lock, so the
     * velocity count sees every earlier attempt, concurrent ones included. An assessment already
     * recorded for the payment is returned as it is (a retried payment step is not a new attempt).
     */
    async recordAssessment(input: {
      userId: string;
      merchantId: string | null;
      paymentId: string | null;
      amount: bigint;
      currency: string;
      ruleSet: RuleSetRow;
      decide: (attemptsInWindow: number) => { features: RiskFeatures; outcome: RiskOutcome };
    }): Promise<AssessmentRow> {
      return db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`risk:attempts:${input.userId}`}))`);
        if (input.paymentId) {
          const [existing] = await tx.select().from(assessments).where(eq(assessments.paymentId, input.paymentId));
          if (existing) return existing;
        }
        const windowStart = new Date(Date.now() - input.ruleSet.rules.velocityWindowMinutes * 60_000);
        const [counted] = await tx
          .select({ count: sql<string>`count(*)::text` })
          .from(assessments)
          .where(and(eq(assessments.userId, input.userId), gt(assessments.createdAt, windowStart)));
        const { features, outcome } = input.decide(Number(counted!.count) + 1);
        const [row] = await tx
          .insert(assessments)
          .values({
            id: newId('rsk'),
            userId: input.userId,
            merchantId: input.merchantId,
            paymentId: input.paymentId,
            amount: input.amount,
            currency: input.currency,
            ruleSetVersion: input.ruleSet.version,
            features,
            decision: outcome.decision,
            score: outcome.score,
            reasons: outcome.reasons,
          })
          .returning();
        return row!;
      });
    },

    async assessmentsByIds(ids: readonly string[]): Promise<AssessmentRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(assessments).where(inArray(assessments.id, [...ids]));
    },

    async assessmentsByPaymentIds(paymentIds: readonly string[]): Promise<AssessmentRow[]> {
      if (paymentIds.length === 0) return [];
      return db.select().from(assessments).where(inArray(assessments.paymentId, [...paymentIds]));
    },
  };
}

export type RiskStore = ReturnType<typeof createRiskStore>;
