// A login's session and a token family's revocation (logout, a reused refresh token, a session whose
// user users no longer knows) are recorded in their own transaction: each
// leaves its record in auth.audit_outbox, and one whose record cannot be written fails and changes
// nothing (no session, no revocation without its record, as a crash between the two used to allow).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auditInTransaction, type AuditEntry } from '@paygraph/audit';
import { createLogger } from '@paygraph/logging';
import type { ServiceClient } from '@paygraph/service-client';
import { unsentOutboxRecorder, waitingRecords, withOutboxUnwritable } from '@paygraph/audit/testing';
import type { ServiceDatabase } from '@paygraph/db';
import { openOwnServiceDatabase } from '@paygraph/db/testing';
import { schema } from '../src/db/schema';
import type { SigningKey } from '../src/keys';
import { migrationsFolder } from '../src/server';
import { logout, refresh, type SessionDeps } from '../src/sessions';
import { createAuthStore } from '../src/store/auth-store';

let database: ServiceDatabase<typeof schema>;
let store: ReturnType<typeof createAuthStore>;

beforeAll(async () => {
  database = await openOwnServiceDatabase({ service: 'auth', schema, migrationsFolder, label: 'auth_audit' });
  store = createAuthStore(database);
});

afterAll(async () => {
  await database?.close();
});

const later = () => new Date(Date.now() + 3_600_000);
const login = (userId: string): AuditEntry => ({ type: 'auth.login', actorId: userId, subjectId: userId, outcome: 'SUCCESS' });
const revoked = (userId: string, familyId: string) => (count: number): AuditEntry | null =>
  count > 0 ? { type: 'auth.token_family_revoked', actorId: userId, subjectId: familyId, outcome: 'SUCCESS', details: { reason: 'logout', revoked: count } } : null;
const recorded = async () => (await waitingRecords('auth', database.query)).map((row) => [row.type, row.subject_id]);

it('stores a login’s first refresh token and a family’s revocation each with its record', async () => {
  const recorder = unsentOutboxRecorder('auth', database.query);
  await store.insertRefreshToken('token-a', 'usr_a', 'fam_a', later(), auditInTransaction(recorder, {}, () => login('usr_a')));
  expect(await store.familyOf('token-a')).toEqual({ familyId: 'fam_a', userId: 'usr_a' });
  expect(await store.revokeFamily('fam_a', auditInTransaction(recorder, {}, revoked('usr_a', 'fam_a')))).toBe(1);
  // Revoking it again revokes nothing, and this record says there is nothing to record.
  expect(await store.revokeFamily('fam_a', auditInTransaction(recorder, {}, revoked('usr_a', 'fam_a')))).toBe(0);
  expect(await recorded()).toEqual([
    ['auth.login', 'usr_a'],
    ['auth.token_family_revoked', 'fam_a'],
  ]);
});

it('makes no login and no revocation whose record cannot be written', async () => {
  const recorder = unsentOutboxRecorder('auth', database.query);
  await store.insertRefreshToken('token-b', 'usr_b', 'fam_b', later());
  const before = await recorded();
  await withOutboxUnwritable('auth', database.query, async () => {
    await expect(store.insertRefreshToken('token-c', 'usr_c', 'fam_c', later(), auditInTransaction(recorder, {}, () => login('usr_c')))).rejects.toThrow();
    await expect(store.revokeFamily('fam_b', auditInTransaction(recorder, {}, revoked('usr_b', 'fam_b')))).rejects.toThrow();
  });
  expect(await store.familyOf('token-c')).toBeUndefined();
  // fam_b is still live: its token rotates.
  expect(await store.rotate('token-b', { token: 'token-b2', expiresAt: later() })).toMatchObject({ kind: 'rotated', familyId: 'fam_b' });
  expect(await recorded()).toEqual(before);
});

it('ends a session whose user users no longer knows with its record, and a logout with its own', async () => {
  const recorder = unsentOutboxRecorder('auth', database.query);
  // Users answers every user lookup with "no such user" (the session's account is gone).
  const users: ServiceClient = { request: async <T>() => ({ user: null }) as T };
  const deps: SessionDeps = {
    store,
    users,
    // Not reached: no session is issued on these paths.
    signingKey: {} as SigningKey,
    settings: { issuer: 'paygraph-auth', audience: 'paygraph', accessTokenTtlSeconds: 900, refreshTokenTtlSeconds: 3_600 },
    logger: createLogger({ level: 'silent' }),
    throttle: { enabled: false } as SessionDeps['throttle'],
    audit: recorder,
  };
  await store.insertRefreshToken('token-gone', 'usr_gone', 'fam_gone', later());
  await expect(refresh(deps, 'token-gone')).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  // The family is revoked: its rotated successor is no longer live either.
  expect(await store.revokeFamily('fam_gone')).toBe(0);
  await store.insertRefreshToken('token-out', 'usr_out', 'fam_out', later());
  expect(await logout(deps, 'token-out')).toEqual({ userId: 'usr_out', familyId: 'fam_out', revoked: 1 });
  expect(await logout(deps, 'token-out')).toBeNull();
  const trail = (await waitingRecords('auth', database.query)).filter((row) => ['fam_gone', 'fam_out'].includes(row.subject_id!));
  expect(trail.map((row) => [row.type, row.actor_id, row.subject_id])).toEqual([
    ['auth.token_family_revoked', 'usr_gone', 'fam_gone'],
    ['auth.token_family_revoked', 'usr_out', 'fam_out'],
  ]);
  expect(trail.map((row) => JSON.parse(row.details!))).toEqual([
    { reason: 'user_not_found', revoked: 2 },
    { reason: 'logout', revoked: 1 },
  ]);
});
