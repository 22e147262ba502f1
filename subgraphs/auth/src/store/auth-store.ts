/** The only place with SQL for auth: credentials, refresh-token families and login throttling. */
import { createHash } from 'node:crypto';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { newId, type Database } from '@paygraph/db';
import { credentials, loginThrottle, refreshTokens, type schema } from '../db/schema';
import { lockSecondsAfter } from '../domain/throttle';

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export type RefreshOutcome =
  | { kind: 'rotated'; userId: string; familyId: string }
  | { kind: 'reused'; userId: string; familyId: string }
  | { kind: 'invalid' };

export function createAuthStore(db: Database<typeof schema>) {
  return {
    async passwordHash(userId: string): Promise<string | undefined> {
      const [row] = await db.select({ hash: credentials.passwordHash }).from(credentials).where(eq(credentials.userId, userId));
      return row?.hash;
    },

    /** Sets the hash and ends every session of the user (a changed password logs everyone out). */
    async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
      await db.transaction(async (tx) => {
        await tx
          .insert(credentials)
          .values({ userId, passwordHash })
          .onConflictDoUpdate({ target: credentials.userId, set: { passwordHash, updatedAt: new Date() } });
        await tx.update(refreshTokens).set({ revokedAt: new Date() }).where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)));
      });
    },

    async deleteCredential(userId: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const deleted = await tx.delete(credentials).where(eq(credentials.userId, userId)).returning({ userId: credentials.userId });
        await tx.delete(refreshTokens).where(eq(refreshTokens.userId, userId));
        return deleted.length > 0;
      });
    },

    async insertRefreshToken(token: string, userId: string, familyId: string, expiresAt: Date): Promise<void> {
      await db.insert(refreshTokens).values({ id: newId('rtk'), familyId, userId, tokenHash: hashRefreshToken(token), expiresAt });
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

    /** Revokes every live token of a family; returns how many were live. */
    async revokeFamily(familyId: string): Promise<number> {
      const revoked = await db
        .update(refreshTokens)
        .set({ revokedAt: new Date() })
        .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
        .returning({ id: refreshTokens.id });
      return revoked.length;
    },

    async familyOf(token: string): Promise<string | undefined> {
      const [row] = await db.select({ familyId: refreshTokens.familyId }).from(refreshTokens).where(eq(refreshTokens.tokenHash, hashRefreshToken(token)));
      return row?.familyId;
    },

    /** When the key is locked, the time it unlocks; else null. */
    async lockedUntil(key: string): Promise<Date | null> {
      const [row] = await db.select({ lockedUntil: loginThrottle.lockedUntil }).from(loginThrottle).where(eq(loginThrottle.key, key));
      return row?.lockedUntil && row.lockedUntil.getTime() > Date.now() ? row.lockedUntil : null;
    },

    /** Counts a failure atomically and locks the key for the delay the new count calls for. */
    async recordFailure(key: string): Promise<void> {
      await db.transaction(async (tx) => {
        const [row] = await tx
          .insert(loginThrottle)
          .values({ key, failures: 1 })
          .onConflictDoUpdate({ target: loginThrottle.key, set: { failures: sql`${loginThrottle.failures} + 1`, updatedAt: new Date() } })
          .returning({ failures: loginThrottle.failures });
        const seconds = lockSecondsAfter(row!.failures);
        if (seconds > 0) {
          await tx.update(loginThrottle).set({ lockedUntil: new Date(Date.now() + seconds * 1000) }).where(eq(loginThrottle.key, key));
        }
      });
    },

    async clearFailures(key: string): Promise<void> {
      await db.delete(loginThrottle).where(eq(loginThrottle.key, key));
    },
  };
}

export type AuthStore = ReturnType<typeof createAuthStore>;
