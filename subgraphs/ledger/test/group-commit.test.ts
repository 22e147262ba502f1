// Proves the group-commit queue on its own (no database): a request finding nothing in flight goes
// alone at once, those arriving meanwhile go together next in arrival order, requests sharing a key
// never share a batch, each request gets its own settlement, a failed batch fails only its own
// requests, and the bounds on batch size and waiting requests hold.
import { describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql';
import { createGroupCommit, type Settlement } from '../src/store/group-commit';

interface Request {
  key: string;
  value: number;
}

function recorder(options: { batchSizeMax?: number; waitingMax?: number; fail?: (batch: readonly Request[]) => boolean } = {}) {
  const batches: string[][] = [];
  let release: () => void = () => {};
  let gate = Promise.resolve();
  const group = createGroupCommit<Request, number>({
    run: async (batch): Promise<Array<Settlement<number>>> => {
      batches.push(batch.map((request) => request.key));
      await gate;
      if (options.fail?.(batch)) throw new Error('batch failed');
      return batch.map((request) => (request.value < 0 ? { ok: false, error: new Error(`refused ${request.key}`) } : { ok: true, value: request.value * 10 }));
    },
    keyOf: (request) => request.key,
    batchSizeMax: options.batchSizeMax ?? 100,
    batchesInFlightMax: 1,
    waitingMax: options.waitingMax ?? 1_000,
  });
  return {
    group,
    batches,
    hold: () => {
      gate = new Promise((resolve) => (release = resolve));
    },
    release: () => release(),
  };
}

describe('createGroupCommit', () => {
  it('sends the first request alone, then what arrived meanwhile together, each with its own result', async () => {
    const { group, batches } = recorder();
    const results = await Promise.allSettled([1, 2, -3, 4].map((value, index) => group.submit({ key: `k${index}`, value })));
    expect(batches).toEqual([['k0'], ['k1', 'k2', 'k3']]);
    expect(results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message))).toEqual([10, 20, 'refused k2', 40]);
  });

  it('puts requests sharing a key in later batches, in arrival order', async () => {
    const { group, batches } = recorder();
    await Promise.all([group.submit({ key: 'first', value: 0 }), group.submit({ key: 'a', value: 1 }), group.submit({ key: 'a', value: 2 }), group.submit({ key: 'b', value: 3 }), group.submit({ key: 'a', value: 4 })]);
    expect(batches).toEqual([['first'], ['a', 'b'], ['a'], ['a']]);
  });

  it('a batch that throws fails its own requests only; the next batch goes on', async () => {
    const { group, batches } = recorder({ fail: (batch) => batch.some((request) => request.key === 'poison') });
    const results = await Promise.allSettled([group.submit({ key: 'first', value: 1 }), group.submit({ key: 'poison', value: 2 }), group.submit({ key: 'other', value: 3 })]);
    expect(batches).toEqual([['first'], ['poison', 'other']]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(await group.submit({ key: 'later', value: 5 })).toBe(50);
  });

  it('bounds the batch size and refuses requests beyond the waiting bound as SERVICE_UNAVAILABLE', async () => {
    const { group, batches, hold, release } = recorder({ batchSizeMax: 2, waitingMax: 3 });
    hold();
    const accepted = [0, 1, 2, 3].map((value) => group.submit({ key: `k${value}`, value }));
    const refused = await group.submit({ key: 'k4', value: 4 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(GraphQLError);
    expect((refused as GraphQLError).extensions.code).toBe('SERVICE_UNAVAILABLE');
    release();
    expect(await Promise.all(accepted)).toEqual([0, 10, 20, 30]);
    expect(batches).toEqual([['k0'], ['k1', 'k2'], ['k3']]);
  });
});
