import { auditOutboxTable } from '@paygraph/audit';
import { index, integer, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';

/** The auth service's own Postgres schema; no other service reads it. */
export const authSchema = pgSchema('auth');

/** One argon2id hash per user; the password itself is never stored. */
export const credentials = authSchema.table('credentials', {
  userId: text('user_id').primaryKey(),
  passwordHash: text('password_hash').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Token signing keys; the private half is encrypted with a key derived from SERVICE_SECRET. */
export const signingKeys = authSchema.table('signing_keys', {
  kid: text('kid').primaryKey(),
  algorithm: text('algorithm').notNull(),
  publicJwk: jsonb('public_jwk').notNull(),
  privateJwkEncrypted: text('private_jwk_encrypted').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  retiredAt: timestamp('retired_at', { withTimezone: true }),
});

/**
 * Refresh tokens, stored as SHA-256 hashes. All tokens of one login share a family; rotating marks
 * the used token, reusing a rotated one revokes the family.
 */
export const refreshTokens = authSchema.table(
  'refresh_tokens',
  {
    id: text('id').primaryKey(),
    familyId: text('family_id').notNull(),
    userId: text('user_id').notNull(),
    tokenHash: text('token_hash').notNull().unique('refresh_tokens_token_hash_unique'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    rotatedAt: timestamp('rotated_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (table) => [index('refresh_tokens_family_idx').on(table.familyId), index('refresh_tokens_user_idx').on(table.userId)],
);

/** Consecutive failed logins per normalized email (known or not), and until when it is locked. */
export const loginThrottle = authSchema.table('login_throttle', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  lockedUntil: timestamp('locked_until', { withTimezone: true }),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Audit records waiting to be relayed to users' trail (packages/audit outbox.ts). */
export const auditOutbox = auditOutboxTable(authSchema);

export const schema = { credentials, signingKeys, refreshTokens, loginThrottle, auditOutbox };
