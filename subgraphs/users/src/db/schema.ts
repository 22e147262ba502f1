import { outboxTable } from '@paygraph/events';
import { pgSchema, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

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

/** The transactional outbox (packages/events): `user.registered` and `user.updated`. */
export const outboxEvents = outboxTable<'users', 'User'>(usersSchema);

export type UserRow = typeof users.$inferSelect;
export const schema = { users, outboxEvents };
