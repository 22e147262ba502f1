/**
 * Group commit: requests that arrive while a batch is being written wait, then go together in the
 * next one, as TigerBeetle batches transfers. A hot account is then locked once per batch, inside
 * one short transaction, instead of once per request across that request's round trips, where
 * every other request on the account queues behind it. There is no timer: a request that finds no
 * batch in flight goes at once (a batch of one), so a quiet ledger adds no latency and the batch
 * size follows the load. Each request still gets its own result or error (the batch's `run`
 * settles them one by one); requests sharing a key never share a batch, so the later one sees the
 * earlier one's outcome as a replay would.
 */
import { serviceUnavailable } from '@paygraph/errors';

export type Settlement<Result> = { ok: true; value: Result } | { ok: false; error: unknown };

export interface GroupCommitOptions<Request, Result> {
  /** Writes one batch; one settlement per request, in order. A throw fails the whole batch. */
  run: (batch: readonly Request[]) => Promise<Array<Settlement<Result>>>;
  /** Requests with the same key go in different batches, in arrival order. */
  keyOf: (request: Request) => string;
  batchSizeMax: number;
  /** Batches written at once: while one commits, the next one claims its keys and queues for the locks. */
  batchesInFlightMax: number;
  /** Requests waiting at most; more are refused (SERVICE_UNAVAILABLE) rather than queued without bound. */
  waitingMax: number;
}

interface Waiting<Request, Result> {
  request: Request;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export function createGroupCommit<Request, Result>(options: GroupCommitOptions<Request, Result>) {
  let queue: Array<Waiting<Request, Result>> = [];
  let running = 0;

  /** The next batch: the oldest requests with distinct keys, up to the size bound; the rest wait on. */
  function take(): Array<Waiting<Request, Result>> {
    const batch: Array<Waiting<Request, Result>> = [];
    const left: Array<Waiting<Request, Result>> = [];
    const keys = new Set<string>();
    for (const waiting of queue) {
      const key = options.keyOf(waiting.request);
      if (batch.length < options.batchSizeMax && !keys.has(key)) {
        keys.add(key);
        batch.push(waiting);
      } else {
        left.push(waiting);
      }
    }
    queue = left;
    return batch;
  }

  async function drain(): Promise<void> {
    running += 1;
    try {
      while (queue.length > 0) {
        const batch = take();
        let settled: Array<Settlement<Result>>;
        try {
          settled = await options.run(batch.map((waiting) => waiting.request));
        } catch (error) {
          for (const waiting of batch) waiting.reject(error);
          continue;
        }
        if (settled.length !== batch.length) {
          const error = new Error(`A batch of ${batch.length} settled ${settled.length} requests`);
          for (const waiting of batch) waiting.reject(error);
          continue;
        }
        batch.forEach((waiting, index) => {
          const settlement = settled[index]!;
          if (settlement.ok) waiting.resolve(settlement.value);
          else waiting.reject(settlement.error);
        });
      }
    } finally {
      running -= 1;
    }
  }

  return {
    submit(request: Request): Promise<Result> {
      if (queue.length >= options.waitingMax) return Promise.reject(serviceUnavailable('The ledger is busy; retry with the same idempotency key.'));
      return new Promise<Result>((resolve, reject) => {
        queue.push({ request, resolve, reject });
        if (running < options.batchesInFlightMax) void drain();
      });
    },
  };
}
