/** The only place with SQL for auth: credentials, refresh-token families and login throttling. */
import { createHash } from 'node:crypto';
import { and, eq, gt, inArray, isNull, sql } from 'drizzle-orm';
import type { AuditInTransaction } from '@paygraph/audit';
import { newId, rowsOf, type Database, type RawTransaction, type SqlRunner } from '@paygraph/db';
import { credentials, loginThrottle, refreshTokens, type schema } from '../db/schema';
import { LOGIN_ATTEMPT_PENDING_SECONDS_MAX, type LoginThrottleSettings } from '../domain/throttle';

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export type RefreshOutcome =
  | { kind: 'rotated'; userId: string; familyId: string }
  | { kind: 'reused'; userId: string; familyId: string }
  | { kind: 'invalid' };

/**
 * Revokes the live refresh tokens of a family or a user, in two statements: the first locks them,
 * and so waits for a rotation under way (which holds the token it uses); the second, with a
 * snapshot taken after that rotation committed, revokes its successor too. One update alone did
 * not (READ COMMITTED: its snapshot predates the successor), and a logout or a reuse detection
 * racing a refresh left the new token alive on PostgreSQL. A rotation that starts later finds its
 * token revoked. Returns how many tokens were live.
 */
async function revokeLive(sql: SqlRunner, column: 'family_id' | 'user_id', value: string): Promise<number> {
  await sql.query(`select id from auth.refresh_tokens where ${column} = $1 and revoked_at is null for update`, [value]);
  const revoked = await sql.query(`update auth.refresh_tokens set revoked_at = now() where ${column} = $1 and revoked_at is null returning id`, [value]);
  return revoked.length;
}

export function createAuthStore(database: { db: Database<typeof schema>; transaction: RawTransaction }) {
  const db = database.db;
  return {
    async passwordHash(userId: string): Promise<string | undefined> {
      const [row] = await db.select({ hash: credentials.passwordHash }).from(credentials).where(eq(credentials.userId, userId));
      return row?.hash;
    },

    /** Sets the hash and ends every session of the user (a changed password logs everyone out). */
    async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
      await database.transaction(async (sql) => {
        await sql.query(
          `insert into auth.credentials (user_id, password_hash) values ($1, $2)
           on conflict (user_id) do update set password_hash = excluded.password_hash, updated_at = now()`,
          [userId, passwordHash],
        );
        await revokeLive(sql, 'user_id', userId);
      });
    },

    async deleteCredential(userId: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const deleted = await tx.delete(credentials).where(eq(credentials.userId, userId)).returning({ userId: credentials.userId });
        await tx.delete(refreshTokens).where(eq(refreshTokens.userId, userId));
        return deleted.length > 0;
      });
    },

    /** Stores a new family's first refresh token (a login); `audit` records the login in its transaction. */
    async insertRefreshToken(token: string, userId: string, familyId: string, expiresAt: Date, audit?: AuditInTransaction): Promise<void> {
      await database.transaction(async (sql) => {
        await sql.query(`insert into auth.refresh_tokens (id, family_id, user_id, token_hash, expires_at) values ($1, $2, $3, $4, $5::timestamptz)`, [
          newId('rtk'),
          familyId,
          userId,
          hashRefreshToken(token),
          expiresAt.toISOString(),
        ]);
        await audit?.(sql);
      });
    },

    /**
     * Marks a live refresh token as used and stores its successor, atomically: of two concurrent
     * uses only one rotates, the other finds the token rotated (reuse).
     */
    async rotate(token: string, next: { token: string; expiresAt: Date }): Promise<RefreshOutcome> {
      const tokenHash = hashRefreshToken(token);
      return db.transaction(async (tx) => {
        const [used] = await tx
          .update(refreshTokens)
          .set({ rotatedAt: new Date() })
          .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.rotatedAt), isNull(refreshTokens.revokedAt), gt(refreshTokens.expiresAt, new Date())))
          .returning({ userId: refreshTokens.userId, familyId: refreshTokens.familyId });
        if (used) {
          await tx.insert(refreshTokens).values({ id: newId('rtk'), familyId: used.familyId, userId: used.userId, tokenHash: hashRefreshToken(next.token), expiresAt: next.expiresAt });
          return { kind: 'rotated', ...used };
        }
        const [known] = await tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash));
        if (known?.rotatedAt && !known.revokedAt) return { kind: 'reused', userId: known.userId, familyId: known.familyId };
        return { kind: 'invalid' };
      });
    },

    /**
     * Revokes every live token of a family; returns how many were live. `audit` records the
     * revocation in its transaction, given that count.
     */
    async revokeFamily(familyId: string, audit?: AuditInTransaction<number>): Promise<number> {
      return database.transaction(async (sql) => {
        const revoked = await revokeLive(sql, 'family_id', familyId);
        await audit?.(sql, revoked);
        return revoked;
      });
    },

    /** The token family a refresh token belongs to, and whose session it is. */
    async familyOf(token: string): Promise<{ familyId: string; userId: string } | undefined> {
      const [row] = await db.select({ familyId: refreshTokens.familyId, userId: refreshTokens.userId }).from(refreshTokens).where(eq(refreshTokens.tokenHash, hashRefreshToken(token)));
      return row;
    },

    /**
     * Counts one login attempt of an (account, client) pair before its password is checked, in one
     * statement: refused (null) while the pair is locked; else the attempt's number. From the free
     * limit on, the attempt locks the pair until its outcome is known (settleLoginFailure sets the
     * doubling delay, a success clears the pair), so attempts that overlap a slow password check
     * cannot slip in when a time-based lock would have run out.
     */
    async consumeLoginAttempt(key: string, settings: LoginThrottleSettings): Promise<number | null> {
      const count = sql`(case when t.updated_at < now() - make_interval(secs => ${settings.windowSeconds}) then 1 else t.failures + 1 end)`;
      const pending = sql`now() + make_interval(secs => ${LOGIN_ATTEMPT_PENDING_SECONDS_MAX})`;
      const result = await db.execute(sql`
        insert into auth.login_throttle as t (key, failures, locked_until, updated_at)
        values (${key}, 1, case when 1 >= ${settings.failuresFree} then ${pending} else null end, now())
        on conflict (key) do update set
          failures = ${count},
          locked_until = case when ${count} >= ${settings.failuresFree} then ${pending} else null end,
          updated_at = now()
        where t.locked_until is null or t.locked_until <= now()
        returning failures`);
      const [row] = rowsOf<{ failures: number }>(result);
      return row ? Number(row.failures) : null;
    },

    /** A counted attempt failed: from the free limit on, the pair waits lockSecondsFirst, doubling per failure, up to the cap. */
    async settleLoginFailure(key: string, settings: LoginThrottleSettings): Promise<void> {
      await db.execute(sql`
        update auth.login_throttle
        set locked_until = now() + make_interval(secs => least(${settings.lockSecondsFirst} * power(2, failures - ${settings.failuresFree}), ${settings.lockSecondsMax}))
        where key = ${key} and failures >= ${settings.failuresFree}`);
    },

    /** A counted attempt ended without an answer (a service was down): lift its pending lock. */
    async releaseLoginAttempt(key: string): Promise<void> {
      await db.execute(sql`update auth.login_throttle set locked_until = now() where key = ${key} and locked_until > now()`);
    },

    /**
     * Counts one failure on a windowed counter unless it is already at `max`, in one statement:
     * the new count, or null when refused.
     */
    async consumeFailureBudget(key: string, max: number, windowSeconds: number): Promise<number | null> {
      const result = await db.execute(sql`
        insert into auth.login_throttle as t (key, failures, updated_at) values (${key}, 1, now())
        on conflict (key) do update set
          failures = case when t.updated_at < now() - make_interval(secs => ${windowSeconds}) then 1 else t.failures + 1 end,
          updated_at = now()
        where t.updated_at < now() - make_interval(secs => ${windowSeconds}) or t.failures < ${max}
        returning failures`);
      const [row] = rowsOf<{ failures: number }>(result);
      return row ? Number(row.failures) : null;
    },

    /** Counts one failure on a windowed counter, whatever its count. */
    async recordFailure(key: string, windowSeconds: number): Promise<void> {
      await db.execute(sql`
        insert into auth.login_throttle as t (key, failures, updated_at) values (${key}, 1, now())
        on conflict (key) do update set
          failures = case when t.updated_at < now() - make_interval(secs => ${windowSeconds}) then 1 else t.failures + 1 end,
          updated_at = now()`);
    },

    /** Gives back one counted attempt (a login that succeeded). */
    async refundAttempt(key: string): Promise<void> {
      await db.execute(sql`update auth.login_throttle set failures = greatest(failures - 1, 0) where key = ${key}`);
    },

    /**
     * Seconds until a refused key may try again: its lock, else the rest of its window. A lock
     * that only holds the key while an attempt's password is checked (LOGIN_ATTEMPT_PENDING_SECONDS_MAX
     * from its last count) ends with that check, a second or so: what follows it is the lock the
     * attempt would earn by failing, so that is the wait to announce, not the pending bound (30 s
     * was announced for a 1 s lock; found by the auth probe).
     */
    async retryAfterSeconds(key: string, settings: Pick<LoginThrottleSettings, 'windowSeconds' | 'failuresFree' | 'lockSecondsFirst' | 'lockSecondsMax'>): Promise<number> {
      const [row] = await db
        .select({ lockedUntil: loginThrottle.lockedUntil, updatedAt: loginThrottle.updatedAt, failures: loginThrottle.failures })
        .from(loginThrottle)
        .where(eq(loginThrottle.key, key));
      if (!row) return 1;
      const now = Date.now();
      const locked = row.lockedUntil !== null && row.lockedUntil.getTime() > now;
      const pending = locked && row.lockedUntil!.getTime() - row.updatedAt.getTime() === LOGIN_ATTEMPT_PENDING_SECONDS_MAX * 1000;
      if (pending) {
        const lockAfterFailure = Math.min(settings.lockSecondsFirst * 2 ** Math.max(0, row.failures - settings.failuresFree), settings.lockSecondsMax);
        return Math.max(1, Math.min(Math.ceil((row.lockedUntil!.getTime() - now) / 1000), 1 + Math.ceil(lockAfterFailure)));
      }
      const untilMs = locked ? row.lockedUntil!.getTime() : row.updatedAt.getTime() + settings.windowSeconds * 1000;
      return Math.max(1, Math.ceil((untilMs - now) / 1000));
    },

    async clearThrottle(keys: string[]): Promise<void> {
      await db.delete(loginThrottle).where(inArray(loginThrottle.key, keys));
    },
  };
}

export type AuthStore = ReturnType<typeof createAuthStore>;
