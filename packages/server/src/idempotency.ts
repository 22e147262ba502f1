/**
 * Idempotency as one capability: the rule for a key's shape, the hash of the request a key is
 * stored with, and claim-or-replay, the one way a command either records its key (and does its
 * work once) or answers with what the key's first request got. A key first used with other
 * parameters is IDEMPOTENCY_KEY_REUSED. Used by the ledger, wallet and payments.
 */
import { createHash } from 'node:crypto';
import { badUserInput, idempotencyKeyReused } from '@paygraph/errors';

/** Keys clients choose (wallet, payments); services namespace them, so the ledger allows longer ones. */
export const CLIENT_IDEMPOTENCY_KEY_LENGTH_MAX = 150;

export function assertIdempotencyKey(key: string, options: { field?: string; lengthMax?: number } = {}): string {
  const { field = 'input.idempotencyKey', lengthMax = CLIENT_IDEMPOTENCY_KEY_LENGTH_MAX } = options;
  if (key.length === 0 || key.length > lengthMax || key.trim() !== key) {
    throw badUserInput(`Idempotency key must be 1 to ${lengthMax} characters without surrounding spaces`, field);
  }
  return key;
}

/** Stable SHA-256 of a command and its parameters (bigints as decimal strings). */
export function requestHash(command: string, parameters: unknown): string {
  const canonical = JSON.stringify([command, parameters], (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  return createHash('sha256').update(canonical).digest('hex');
}

/** What a command stores under its key: the hash of the request that first used it. */
export interface KeyedRequest {
  requestHash: string;
}

/**
 * The first result under a key, when this request is that same request (same hash, or one of the
 * hashes the same request may have been stored with): a replay. Otherwise the key was reused with
 * other parameters: IDEMPOTENCY_KEY_REUSED.
 */
export function replayOrRefuse<Existing extends KeyedRequest>(existing: Existing, hash: string | readonly string[], field?: string): Existing {
  const same = typeof hash === 'string' ? existing.requestHash === hash : hash.includes(existing.requestHash);
  if (!same) throw idempotencyKeyReused(field);
  return existing;
}

export type ClaimOutcome<Claimed, Existing> = { replayed: false; claimed: Claimed } | { replayed: true; existing: Existing };

/**
 * Claim-or-replay, the shape of every idempotent command:
 * - `claim` records the key with this request's hash (and does the command's first effect), or
 *   returns `undefined` when the key is already taken: an `insert ... on conflict do nothing` that
 *   returned nothing, or a unique violation on the key caught and mapped to `undefined`;
 * - `find` reads what holds the key (a concurrent first request has committed by then: the claim
 *   waited on the key's unique index);
 * - a replay of the same request returns what it stored; other parameters are
 *   IDEMPOTENCY_KEY_REUSED.
 * `lookFirst` reads before claiming (when the claim does work worth skipping on a replay, or
 * replays are common); otherwise the claim goes first, one statement on the usual path. A key that
 * is taken and then not found is a broken invariant (a programmer error), not a client's.
 */
export async function claimOrReplay<Claimed, Existing extends KeyedRequest>(options: {
  hash: string;
  claim: () => Promise<Claimed | undefined>;
  find: () => Promise<Existing | undefined>;
  lookFirst?: boolean;
  field?: string;
}): Promise<ClaimOutcome<Claimed, Existing>> {
  const { hash, claim, find, lookFirst = false, field } = options;
  if (lookFirst) {
    const previous = await find();
    if (previous) return { replayed: true, existing: replayOrRefuse(previous, hash, field) };
  }
  const claimed = await claim();
  if (claimed !== undefined) return { replayed: false, claimed };
  const existing = await find();
  if (!existing) throw new Error('An idempotency key was taken but nothing holds it');
  return { replayed: true, existing: replayOrRefuse(existing, hash, field) };
}
