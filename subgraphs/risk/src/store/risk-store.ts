/** The only place with SQL for risk. */
import { desc, inArray } from 'drizzle-orm';
import type { AuditInTransaction } from '@paygraph/audit';
import { newId, sendStatement, type Database, type RawTransaction, type SqlRunner } from '@paygraph/db';
import { DEFAULT_RULE_SET, type RiskFeatures, type RiskOutcome, type RuleSet } from '../domain/rules';
import { assessments, blocklist, ruleSets, type AssessmentRow, type BlocklistRow, type RuleSetRow, type schema } from '../db/schema';

const RULES_LOCK = 727_172_101;

const toRuleSet = (row: Record<string, unknown>): RuleSetRow => ({
  version: Number(row.version),
  rules: parseJson<RuleSet>(row.rules),
  createdBy: row.created_by as string,
  createdAt: row.created_at instanceof Date ? row.created_at : new Date(String(row.created_at)),
});

const parseJson = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

/** Email domains as the blocklist statements take them: one comma-separated text parameter. */
const blocklistDomains = (domains: readonly string[]) => domains.filter((domain) => !domain.includes(',')).join(',');

const toBlocklistEntry = (row: Record<string, unknown>): BlocklistRow => ({
  kind: row.kind as BlocklistRow['kind'],
  value: row.value as string,
  createdBy: row.created_by as string,
  createdAt: row.created_at instanceof Date ? row.created_at : new Date(String(row.created_at)),
});

const toAssessment = (row: Record<string, unknown>): AssessmentRow => ({
  id: row.id as string,
  userId: row.user_id as string,
  merchantId: (row.merchant_id as string | null) ?? null,
  paymentId: (row.payment_id as string | null) ?? null,
  amount: BigInt(String(row.amount)),
  currency: row.currency as string,
  ruleSetVersion: Number(row.rule_set_version),
  features: parseJson<RiskFeatures>(row.features),
  decision: row.decision as AssessmentRow['decision'],
  score: Number(row.score),
  reasons: parseJson<AssessmentRow['reasons']>(row.reasons),
  createdAt: row.created_at instanceof Date ? row.created_at : new Date(String(row.created_at)),
});

/**
 * The assessment path (rules, blocklist, the per-buyer count and insert) runs hand-written
 * prepared statements: it is on every payment. The admin paths stay on drizzle.
 */
export function createRiskStore(database: { db: Database<typeof schema>; transaction: RawTransaction; query: SqlRunner['query'] }) {
  const db = database.db;
  /** The rule set in force; version 1 (the defaults) is created on first use. */
  async function currentRuleSet(): Promise<RuleSetRow> {
    const [current] = await database.query(`select * from risk.rule_sets order by version desc limit 1`);
    if (current) return toRuleSet(current);
    await db.insert(ruleSets).values({ version: 1, rules: DEFAULT_RULE_SET, createdBy: 'system' }).onConflictDoNothing();
    return (await db.select().from(ruleSets).orderBy(desc(ruleSets.version)).limit(1))[0]!;
  }
  return {
    currentRuleSet,

    /**
     * Appends a new version made from the one in force: `rules` is a rule set, or a change applied
     * to the current rules read under the lock, so concurrent partial changes each build on the
     * version before them (read outside it, three changes sent at once kept only the last one's
     * fields while all three were answered as saved). `audit` records the change in its transaction.
     */
    async saveRuleSet(rules: RuleSet | ((current: RuleSet) => RuleSet), createdBy: string, audit?: AuditInTransaction<RuleSetRow>): Promise<RuleSetRow> {
      if (typeof rules === 'function') await currentRuleSet(); // version 1 (the defaults) exists first
      return database.transaction(async (sql) => {
        await sql.query(`select pg_advisory_xact_lock($1::bigint)`, [String(RULES_LOCK)]);
        let next: RuleSet;
        if (typeof rules === 'function') {
          const [current] = await sql.query(`select * from risk.rule_sets order by version desc limit 1`);
          next = rules(current ? toRuleSet(current).rules : DEFAULT_RULE_SET);
        } else {
          next = rules;
        }
        const [row] = await sql.query(
          `insert into risk.rule_sets (version, rules, created_by) select coalesce(max(version), 0) + 1, $1::jsonb, $2 from risk.rule_sets returning *`,
          [JSON.stringify(next), createdBy],
        );
        const saved = toRuleSet(row!);
        await audit?.(sql, saved);
        return saved;
      });
    },

    /**
     * What an assessment reads before it decides, in one statement: the rule set in force and
     * whether the user, or any email domain the account has had, is on the blocklist.
     */
    async assessmentInputs(userId: string, emailDomains: readonly string[]): Promise<{ ruleSet: RuleSetRow; blocklisted: boolean }> {
      const [row] = await database.query<{ rules: Record<string, unknown> | string | null; blocklisted: boolean }>(
        `select (select row_to_json(current) from (select * from risk.rule_sets order by version desc limit 1) as current) as rules,
                exists (select 1 from risk.blocklist where (kind = 'USER' and value = $1) or (kind = 'EMAIL_DOMAIN' and value = any(string_to_array($2, ',')))) as blocklisted`,
        [userId, blocklistDomains(emailDomains)],
      );
      const rules = row!.rules === null ? null : parseJson<Record<string, unknown>>(row!.rules);
      return { ruleSet: rules ? toRuleSet(rules) : await currentRuleSet(), blocklisted: row!.blocklisted === true };
    },

    /** Adds an entry (kept as it is when already there); `audit` records the addition in its transaction. */
    async addToBlocklist(entry: Pick<BlocklistRow, 'kind' | 'value' | 'createdBy'>, audit?: AuditInTransaction): Promise<BlocklistRow> {
      return database.transaction(async (sql) => {
        await sql.query(`insert into risk.blocklist (kind, value, created_by) values ($1, $2, $3) on conflict do nothing`, [entry.kind, entry.value, entry.createdBy]);
        await audit?.(sql);
        const [row] = await sql.query(`select kind, value, created_by, created_at from risk.blocklist where kind = $1 and value = $2`, [entry.kind, entry.value]);
        return toBlocklistEntry(row!);
      });
    },

    /** Removes an entry; false when there was none. `audit` records a removal in its transaction. */
    async removeFromBlocklist(kind: BlocklistRow['kind'], value: string, audit?: AuditInTransaction): Promise<boolean> {
      return database.transaction(async (sql) => {
        const removed = await sql.query(`delete from risk.blocklist where kind = $1 and value = $2 returning value`, [kind, value]);
        if (removed.length === 0) return false;
        await audit?.(sql);
        return true;
      });
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
      return database.transaction(async (sql) => {
        // The lock travels with the read (send: nothing reads its row); the read is a statement of
        // its own, so its snapshot is taken once the lock is held and sees every earlier attempt.
        await sendStatement(sql, `select pg_advisory_xact_lock(hashtext($1))`, [`risk:attempts:${input.userId}`]);
        const windowStart = new Date(Date.now() - input.ruleSet.rules.velocityWindowMinutes * 60_000);
        // The assessment already recorded for this payment (a retried step), and the buyer's attempts in the window.
        const [read] = await sql.query<Record<string, unknown> & { attempts: string; found: boolean }>(
          `select (select count(*) from risk.assessments where user_id = $1 and created_at > $2::timestamptz)::text as attempts,
                  existing.id is not null as found, existing.*, existing.amount::text as amount
           from (select 1) as one left join risk.assessments as existing on existing.payment_id = $3`,
          [input.userId, windowStart.toISOString(), input.paymentId],
        );
        if (read!.found) return toAssessment(read!);
        const { features, outcome } = input.decide(Number(read!.attempts) + 1);
        const row: AssessmentRow = {
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
          createdAt: new Date(),
        };
        // Nothing reads the insert's result: it travels with the COMMIT.
        await sendStatement(
          sql,
          `insert into risk.assessments (id, user_id, merchant_id, payment_id, amount, currency, rule_set_version, features, decision, score, reasons, created_at)
           values ($1, $2, $3, $4, $5::bigint, $6, $7::integer, $8::jsonb, $9, $10::integer, $11::jsonb, $12::timestamptz)`,
          [row.id, row.userId, row.merchantId, row.paymentId, row.amount.toString(), row.currency, String(row.ruleSetVersion), JSON.stringify(features), row.decision, String(row.score), JSON.stringify(row.reasons), row.createdAt.toISOString()],
        );
        return row;
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
