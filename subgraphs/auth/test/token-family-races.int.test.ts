// A refresh that rotates a token while its family is revoked (a logout, a reused old token, a new
// password) must not leave the successor alive: the revocation waits for the rotation and then
// sees the token it made. On PostgreSQL the two used to overlap under READ COMMITTED: the revoking
// update's snapshot did not hold the successor, so the session a logout or a theft detection ended
// went on (found by the auth probe; PGlite runs one transaction at a time and never showed it).
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServiceDatabase } from '@paygraph/db';
import { openOwnServiceDatabase } from '@paygraph/db/testing';
import { schema } from '../src/db/schema';
import { migrationsFolder } from '../src/server';
import { createAuthStore } from '../src/store/auth-store';

let database: ServiceDatabase<typeof schema>;
let store: ReturnType<typeof createAuthStore>;

beforeAll(async () => {
  database = await openOwnServiceDatabase({ service: 'auth', schema, migrationsFolder, label: 'auth_family_races' });
  store = createAuthStore(database);
});

afterAll(async () => {
  await database?.close();
});

const TRIALS = 25;
const later = () => new Date(Date.now() + 3_600_000);

/** Tokens of the family that a refresh would still accept. */
async function liveTokens(familyId: string): Promise<number> {
  const rows = await database.query<{ live: string }>(
    `select count(*)::text as live from auth.refresh_tokens where family_id = $1 and revoked_at is null and rotated_at is null and expires_at > now()`,
    [familyId],
  );
  return Number(rows[0]!.live);
}

it(`leaves no live token in a family revoked while one of its tokens rotates (${TRIALS} races)`, async () => {
  for (let trial = 0; trial < TRIALS; trial += 1) {
    const family = `fam_race_${trial}`;
    await store.insertRefreshToken(`race-${trial}-0`, `usr_race_${trial}`, family, later());
    const [rotation, revoked] = await Promise.all([store.rotate(`race-${trial}-0`, { token: `race-${trial}-1`, expiresAt: later() }), store.revokeFamily(family)]);
    // Either the rotation came first (its successor is revoked too) or the revocation (nothing rotated).
    expect(['rotated', 'invalid']).toContain(rotation.kind);
    expect(revoked).toBeGreaterThan(0);
    expect(await liveTokens(family), `trial ${trial}: ${rotation.kind}`).toBe(0);
  }
});

it(`leaves no live token of a user whose password is set while a token rotates (${TRIALS} races)`, async () => {
  for (let trial = 0; trial < TRIALS; trial += 1) {
    const family = `fam_password_${trial}`;
    const user = `usr_password_${trial}`;
    await store.insertRefreshToken(`password-${trial}-0`, user, family, later());
    const [rotation] = await Promise.all([store.rotate(`password-${trial}-0`, { token: `password-${trial}-1`, expiresAt: later() }), store.setPasswordHash(user, 'hash')]);
    expect(['rotated', 'invalid']).toContain(rotation.kind);
    expect(await liveTokens(family), `trial ${trial}: ${rotation.kind}`).toBe(0);
  }
});
