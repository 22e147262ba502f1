/**
 * One client subscription to payment status changes: an async iterator that graphql-js maps
 * through the subscription schema. It listens to the hub before it reads the log for what the
 * client missed (`after`), holds live events back while replaying, and then drops everything at
 * or below the last sequence it accepted: no gap and no duplicate at the seam, whatever the timing.
 * Each accepted change starts resolving at once (a few in flight); deliveries keep their order.
 */
import { GraphQLError } from 'graphql';
import { apiError, serviceUnavailable } from '@paygraph/errors';
import { STATUS_LOG_PAGE_MAX } from '@paygraph/events';
import type { PaymentEventHub, PaymentStatusChange, ReadStatusLog } from './hub';

/** A change resolved for this subscriber: the federated result, keyed by the client's aliases. */
export interface Delivery {
  change: PaymentStatusChange;
  /** `payment` selections of the client, by response key; null when the payment could not be resolved. */
  payments: Record<string, unknown>;
  errors: readonly { message: string; extensions?: Record<string, unknown> }[];
}

/** What the iterator yields: a delivery, or the end of the session (token expired, too slow). */
export type LiveItem = { kind: 'delivery'; delivery: Delivery } | { kind: 'end'; error: GraphQLError };

/** Changes waiting for a slow client before its subscription is ended. */
export const PENDING_MAX = 1_000;
/** Log entries read per page while replaying: the payments log's own page limit (a shorter page is the end). */
export const REPLAY_PAGE = STATUS_LOG_PAGE_MAX;

export interface LiveSubscriptionOptions {
  hub: PaymentEventHub;
  paymentId: string | null;
  /**
   * Only the payments this user is buyer or merchant of (null: all, for admins). A cheap first
   * filter on the ids the event carries, for live and replayed changes alike; what is sent is still
   * decided by resolving the payment with the subscriber's credentials.
   */
  userId: string | null;
  /** Replay from here (exclusive); null: live only. */
  after: bigint | null;
  /**
   * Resolves a change for this subscriber; null only when it may not see the payment. A change
   * that could not be resolved (a subgraph down) rejects: that ends the stream, never skips it.
   */
  resolve(change: PaymentStatusChange): Promise<Delivery | null>;
  readLog: ReadStatusLog;
  onEnd(): void;
}

export class LiveSubscription implements AsyncGenerator<LiveItem, undefined, undefined> {
  private readonly queue: Promise<LiveItem | null>[] = [];
  private last: bigint;
  private held: PaymentStatusChange[] | null;
  private waiting: (() => void) | null = null;
  /** The replay waiting for the client to read before it reads the next page. */
  private roomWaiting: (() => void) | null = null;
  private ended = false;
  private readonly stopListening: () => void;

  constructor(private readonly options: LiveSubscriptionOptions) {
    this.last = options.after ?? -1n;
    this.held = options.after === null ? null : [];
    this.stopListening = options.hub.listen(
      options.paymentId,
      (change) => {
        if (this.held) this.held.push(change);
        else this.accept(change);
      },
      options.userId,
      // The hub lost events it could not recover: end here; the client resumes with `after`.
      (error) => this.finish({ kind: 'end', error }),
    );
    if (options.after !== null) void this.replay(options.after);
  }

  private async replay(after: bigint): Promise<void> {
    try {
      let cursor = after;
      for (;;) {
        // The log can wait, a live event cannot: the replay reads a page only when the client has
        // room for it, so a long replay to a client that keeps reading never ends RATE_LIMITED.
        while (!this.ended && this.queue.length > PENDING_MAX - REPLAY_PAGE) await new Promise<void>((resolve) => (this.roomWaiting = resolve));
        if (this.ended) break;
        const page = await this.options.readLog(cursor, { paymentId: this.options.paymentId, userId: this.options.userId }, REPLAY_PAGE);
        for (const change of page) this.accept(change);
        if (page.length < REPLAY_PAGE || this.ended) break;
        cursor = page[page.length - 1]!.sequence;
      }
      const held = this.held ?? [];
      this.held = null;
      for (const change of held) this.accept(change);
    } catch (error) {
      // An `after` older than the retained log is the client's to fix; anything else is retryable.
      const refused = error instanceof GraphQLError && error.extensions.code === 'BAD_USER_INPUT';
      this.finish({ kind: 'end', error: refused ? error : serviceUnavailable('The missed events could not be read; subscribe again with the same `after`.') });
    }
  }

  private accept(change: PaymentStatusChange): void {
    if (this.ended || change.sequence <= this.last) return;
    this.last = change.sequence;
    const { userId } = this.options;
    if (userId !== null && change.buyerId !== userId && change.merchantId !== userId) return;
    if (this.queue.length >= PENDING_MAX) {
      this.finish({ kind: 'end', error: apiError('RATE_LIMITED', 'Events arrived faster than this client read them; resume with `after`.') });
      return;
    }
    // A change that could not be resolved (a subgraph down) ends the subscription rather than
    // leave a silent gap: the client resumes with `after` set to the last sequence it received.
    this.push(
      this.options.resolve(change).then(
        (delivery) => (delivery ? ({ kind: 'delivery', delivery } as const) : null),
        () => ({ kind: 'end', error: serviceUnavailable('An event could not be resolved; subscribe again with `after` set to the last sequence received.') }) as const,
      ),
    );
  }

  private push(item: Promise<LiveItem | null>): void {
    this.queue.push(item);
    this.waiting?.();
    this.waiting = null;
  }

  /** Ends the subscription after what is queued, with a last item (e.g. the token expired). */
  finish(item: LiveItem | null): void {
    if (this.ended) return;
    if (item) this.push(Promise.resolve(item));
    this.ended = true;
    this.stopListening();
    this.waiting?.();
    this.waiting = null;
    this.roomWaiting?.();
    this.roomWaiting = null;
  }

  async next(): Promise<IteratorResult<LiveItem, undefined>> {
    for (;;) {
      const head = this.queue.shift();
      if (this.roomWaiting && this.queue.length <= PENDING_MAX - REPLAY_PAGE) {
        this.roomWaiting();
        this.roomWaiting = null;
      }
      if (head) {
        const item = await head;
        if (!item) continue;
        if (item.kind === 'end') {
          // Nothing after an end is delivered: the next call completes the stream.
          this.finish(null);
          this.queue.length = 0;
        }
        return { value: item, done: false };
      }
      if (this.ended) {
        this.options.onEnd();
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  async return(): Promise<IteratorResult<LiveItem, undefined>> {
    this.finish(null);
    this.queue.length = 0;
    this.options.onEnd();
    return { value: undefined, done: true };
  }

  async throw(error: unknown): Promise<IteratorResult<LiveItem, undefined>> {
    await this.return();
    throw error;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async [Symbol.asyncDispose]() {
    await this.return();
  }
}
