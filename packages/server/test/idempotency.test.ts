// Proves claim-or-replay, the one idempotency capability: a first request claims its key and does
// its work once, a replay of the same request gets the stored result without claiming again, the
// same key with other parameters is IDEMPOTENCY_KEY_REUSED, and the ledger key builders stay
// within the ledger's key bound for the longest client key.
import { describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql';
import { CLIENT_IDEMPOTENCY_KEY_LENGTH_MAX, LEDGER_IDEMPOTENCY_KEY_LENGTH_MAX, claimOrReplay, ledgerKeys, requestHash } from '../src/index';

/** A table with a unique key, as `insert ... on conflict do nothing returning` sees it. */
function keyedTable() {
  const rows = new Map<string, { id: string; requestHash: string }>();
  let claims = 0;
  return {
    rows,
    claimsMade: () => claims,
    claim: (key: string, hash: string) => async () => {
      claims += 1;
      if (rows.has(key)) return undefined;
      const row = { id: `row-${rows.size + 1}`, requestHash: hash };
      rows.set(key, row);
      return row;
    },
    find: (key: string) => async () => rows.get(key),
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    return error instanceof GraphQLError ? String(error.extensions.code) : 'INTERNAL';
  }
}

describe('claimOrReplay', () => {
  it('claims a new key, replays the same request and refuses the key with other parameters', async () => {
    const table = keyedTable();
    const hash = requestHash('transfer', { amount: 10n });
    const first = await claimOrReplay({ hash, claim: table.claim('k', hash), find: table.find('k') });
    expect(first).toEqual({ replayed: false, claimed: { id: 'row-1', requestHash: hash } });
    const again = await claimOrReplay({ hash, claim: table.claim('k', hash), find: table.find('k') });
    expect(again).toEqual({ replayed: true, existing: { id: 'row-1', requestHash: hash } });
    const other = requestHash('transfer', { amount: 11n });
    expect(await codeOf(claimOrReplay({ hash: other, claim: table.claim('k', other), find: table.find('k') }))).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(table.rows.size).toBe(1);
  });

  it('looking first, a replay never claims; a miss claims once', async () => {
    const table = keyedTable();
    const hash = requestHash('payOrder', { orderId: 'ord_1' });
    await claimOrReplay({ hash, claim: table.claim('k', hash), find: table.find('k'), lookFirst: true });
    expect(table.claimsMade()).toBe(1);
    const replay = await claimOrReplay({ hash, claim: table.claim('k', hash), find: table.find('k'), lookFirst: true });
    expect(replay.replayed).toBe(true);
    expect(table.claimsMade()).toBe(1);
    const other = requestHash('payOrder', { orderId: 'ord_2' });
    expect(await codeOf(claimOrReplay({ hash: other, claim: table.claim('k', other), find: table.find('k'), lookFirst: true }))).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(table.claimsMade()).toBe(1);
  });

  it('a key taken but held by nothing is a programmer error, not a client error', async () => {
    const outcome = claimOrReplay({ hash: 'h', claim: async () => undefined, find: async () => undefined });
    expect(await codeOf(outcome)).toBe('INTERNAL');
  });
});

describe('ledgerKeys', () => {
  it('builds each caller its own namespace, within the ledger bound for the longest client key', () => {
    const keys = [ledgerKeys.authorize('pay_1'), ledgerKeys.capture('pay_1'), ledgerKeys.refund('ref_1'), ledgerKeys.wallet('usr_1', 'k')];
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toEqual(['payment:pay_1:authorize', 'payment:pay_1:capture', 'refund:ref_1', 'wallet:usr_1:k']);
    const longest = ledgerKeys.wallet(`usr_${'x'.repeat(26)}`, 'k'.repeat(CLIENT_IDEMPOTENCY_KEY_LENGTH_MAX));
    expect(longest.length).toBeLessThanOrEqual(LEDGER_IDEMPOTENCY_KEY_LENGTH_MAX);
  });
});
