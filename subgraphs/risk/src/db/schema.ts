import { auditOutboxTable } from '@paygraph/audit';
import { sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, pgSchema, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import type { RiskFeatures, RuleCode, RuleSet } from '../domain/rules';

/** The risk service's own Postgres schema; no other service reads it. */
export const riskSchema = pgSchema('risk');

/** Every version of the rules; the highest is in force. Never updated, only appended. */
export const ruleSets = riskSchema.table('rule_sets', {
  version: integer('version').primaryKey(),
  rules: jsonb('rules').$type<RuleSet>().notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Each decision with the rule-set version and the features it used, so it can be replayed. */
export const assessments = riskSchema.table(
  'assessments',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull(),
    merchantId: text('merchant_id'),
    paymentId: text('payment_id'),
    amount: bigint('amount', { mode: 'bigint' }).notNull(),
    currency: text('currency').notNull(),
    ruleSetVersion: integer('rule_set_version').notNull(),
    features: jsonb('features').$type<RiskFeatures>().notNull(),
    decision: text('decision', { enum: ['APPROVE', 'REVIEW', 'DECLINE'] }).notNull(),
    score: integer('score').notNull(),
    reasons: jsonb('reasons').$type<RuleCode[]>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('assessments_user_created_idx').on(table.userId, table.createdAt),
    uniqueIndex('assessments_payment_unique').on(table.paymentId).where(sql`${table.paymentId} is not null`),
  ],
);

export const blocklist = riskSchema.table(
  'blocklist',
  {
    kind: text('kind', { enum: ['USER', 'EMAIL_DOMAIN'] }).notNull(),
    value: text('value').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.kind, table.value] })],
);

export type AssessmentRow = typeof assessments.$inferSelect;
export type RuleSetRow = typeof ruleSets.$inferSelect;
export type BlocklistRow = typeof blocklist.$inferSelect;
/** Audit records waiting to be relayed to users' trail (packages/audit outbox.ts). */
export const auditOutbox = auditOutboxTable(riskSchema);

export const schema = { ruleSets, assessments, blocklist, auditOutbox };
