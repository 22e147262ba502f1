import { outboxTable } from '@paygraph/events';
import { bigserial, index, pgSchema, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** The users service's own Postgres schema; no other service reads it. */
export const usersSchema = pgSchema('users');

export const userRole = usersSchema.enum('user_role', ['BUYER', 'MERCHANT', 'ADMIN']);

export const users = usersSchema.table(
  'users',
  {
    id: text('id').primaryKey(),
    /** Normalized (trimmed, lower-cased) so uniqueness is case-insensitive. */
    email: text('email').notNull(),
    name: text('name').notNull(),
    role: userRole('role').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex('users_email_unique').on(table.email)],
);

/**
 * Every email address a user has had before the current one, kept for good: risk judges an
 * account by all of its email domains (a blocklisted domain is not escaped by changing email).
 */
export const emailHistory = usersSchema.table(
  'email_history',
  {
    userId: text('user_id').notNull(),
    email: text('email').notNull(),
    replacedAt: timestamp('replaced_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.email] })],
);

export const AUDIT_OUTCOMES = ['SUCCESS', 'FAILURE', 'DENIED'] as const;

/**
 * The platform's audit trail (packages/audit says why it lives here): append-only. No statement
 * of this service updates or deletes it, and a trigger (migration 0003) refuses UPDATE, DELETE
 * and TRUNCATE for everyone but a superuser disabling it on purpose.
 */
export const auditEvents = usersSchema.table(
  'audit_events',
  {
    id: text('id').primaryKey(),
    /** Insertion order, for stable newest-first pagination. */
    position: bigserial('position', { mode: 'bigint' }).notNull(),
    type: text('type').notNull(),
    actorId: text('actor_id'),
    subjectId: text('subject_id'),
    outcome: text('outcome', { enum: AUDIT_OUTCOMES }).notNull(),
    requestId: text('request_id'),
    /** The service that recorded it (users, or the credential's service). */
    service: text('service').notNull(),
    /** JSON object text. */
    details: text('details'),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('audit_events_position_unique').on(table.position),
    index('audit_events_actor_position_idx').on(table.actorId, table.position),
    index('audit_events_type_position_idx').on(table.type, table.position),
  ],
);

/** The transactional outbox (packages/events): `user.registered` and `user.updated`. */
export const outboxEvents = outboxTable<'users', 'User'>(usersSchema);

export type UserRow = typeof users.$inferSelect;
export type AuditEventRow = typeof auditEvents.$inferSelect;
export const schema = { users, outboxEvents, emailHistory, auditEvents };
