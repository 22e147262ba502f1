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
  /** About what the resolved result holds in memory (its JSON length), counted while it waits for the client. */
  bytes: number;
}

/**
 * The bytes of resolved deliveries waiting for a client, counted across a connection's
 * subscriptions (session.ts bounds them): each delivery is added when it has resolved and removed
 * when it is handed to the socket or dropped.
 */
export interface QueuedBytes {
  add(bytes: number): void;
  remove(bytes: number): void;
}

/** What the iterator yields: a delivery, or the end of the session (token expired, too slow). */
export type LiveItem = { kind: 'delivery'; delivery: Delivery } | { kind: 'end'; error: GraphQLError };

/** Changes waiting for a slow client before its subscription is ended. */
export const PENDING_MAX = 1_000;
/** Log entries read per page while replaying: the payments log's own page limit (a shorter page is the end). */
export const REPLAY_PAGE = STATUS_LOG_PAGE_MAX;
/**
 * Live changes held back while replaying. Past this the held ones are dropped and the replay reads
 * them from the log instead (every change the hub hands out is already in the log), so a long
 * replay costs neither unbounded memory nor the client's subscription.
 */
export const HELD_MAX = PENDING_MAX;

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
  /** Where the bytes waiting for this client are counted (its connection's budget); none: not counted. */
  queuedBytes?: QueuedBytes;
}

export class LiveSubscription implements AsyncGenerator<LiveItem, undefined, undefined> {
  private readonly queue: Promise<LiveItem | null>[] = [];
  private last: bigint;
  private held: PaymentStatusChange[] | null;
  /** Held changes were dropped (HELD_MAX) since the replay last started reading the log. */
  private heldDropped = false;
  private waiting: (() => void) | null = null;
  /** The replay waiting for the client to read before it reads the next page. */
  private roomWaiting: (() => void) | null = null;
  private ended = false;
  /** Bytes of resolved deliveries in `queue`, counted in `options.queuedBytes`. */
  private queuedBytes = 0;
  /** The queue was dropped: deliveries that resolve from now on are not counted. */
  private dropped = false;
  private readonly stopListening: () => void;

  constructor(private readonly options: LiveSubscriptionOptions) {
    this.last = options.after ?? -1n;
    this.held = options.after === null ? null : [];
    this.stopListening = options.hub.listen(
      options.paymentId,
      (change) => {
        if (!this.held) return this.accept(change);
        if (this.held.length >= HELD_MAX) {
          this.held = [];
          this.heldDropped = true;
        }
        this.held.push(change);
      },
      options.userId,
      // The hub lost events it could not recover: end here; the client resumes with `after`.
      (error) => this.finish({ kind: 'end', error }),
    );
    if (options.after !== null) void this.replay();
  }

  /** Live changes held back while replaying (at most HELD_MAX). */
  get holding(): number {
    return this.held?.length ?? 0;
  }

  private async replay(): Promise<void> {
    try {
      for (;;) {
        // Read the log until it is caught up: a short page read while no held change was dropped.
        for (;;) {
          // The log can wait, a live event cannot: the replay reads a page only when the client has
          // room for it, so a long replay to a client that keeps reading never ends RATE_LIMITED.
          if (!(await this.room())) return;
          this.heldDropped = false;
          // From the last change accepted: anything dropped from `held` comes after it.
          const page = await this.options.readLog(this.last, { paymentId: this.options.paymentId, userId: this.options.userId }, REPLAY_PAGE);
          for (const change of page) this.accept(change);
          if (page.length < REPLAY_PAGE && !this.heldDropped) break;
        }
        // Then the live changes held meanwhile, a page at a time as the client makes room.
        while (this.held!.length > 0 && !this.heldDropped) {
          if (!(await this.room())) return;
          if (this.heldDropped) break;
          for (const change of this.held!.splice(0, REPLAY_PAGE)) this.accept(change);
        }
        if (!this.heldDropped) break;
        // Too many arrived while the client caught up: read them from the log instead.
      }
      this.held = null;
    } catch (error) {
      // An `after` older than the retained log is the client's to fix; anything else is retryable.
      const refused = error instanceof GraphQLError && error.extensions.code === 'BAD_USER_INPUT';
      this.finish({
        kind: 'end',
        error: refused ? error : serviceUnavailable('The missed events could not be read; subscribe again with the same `after`.'),
      });
    }
  }

  /** Waits until a page fits among the changes pending for the client; false once ended. */
  private async room(): Promise<boolean> {
    while (!this.ended && this.queue.length > PENDING_MAX - REPLAY_PAGE) await new Promise<void>((resolve) => (this.roomWaiting = resolve));
    return !this.ended;
  }

  private accept(change: PaymentStatusChange): void {
    if (this.ended || change.sequence <= this.last) return;
    this.last = change.sequence;
    const { userId } = this.options;
    if (userId !== null && change.buyerId !== userId && change.merchantId !== userId) return;
    if (this.queue.length >= PENDING_MAX) {
      this.finish({
        kind: 'end',
        error: apiError('RATE_LIMITED', 'Events arrived faster than this client read them; resume with `after`.'),
      });
      return;
    }
    // A change that could not be resolved (a subgraph down) ends the subscription rather than
    // leave a silent gap: the client resumes with `after` set to the last sequence it received.
    this.push(
      this.options.resolve(change).then(
        (delivery) => {
          if (!delivery) return null;
          this.count(delivery.bytes);
          return { kind: 'delivery', delivery } as const;
        },
        () =>
          ({
            kind: 'end',
            error: serviceUnavailable('An event could not be resolved; subscribe again with `after` set to the last sequence received.'),
          }) as const,
      ),
    );
  }

  private count(bytes: number): void {
    if (this.dropped || bytes === 0) return;
    this.queuedBytes += bytes;
    this.options.queuedBytes?.add(bytes);
  }

  private uncount(bytes: number): void {
    if (this.dropped || bytes === 0) return;
    this.queuedBytes -= bytes;
    this.options.queuedBytes?.remove(bytes);
  }

  /** Nothing queued will be delivered: the queue goes, and its bytes leave the connection's count. */
  private drop(): void {
    this.queue.length = 0;
    if (this.queuedBytes > 0) this.options.queuedBytes?.remove(this.queuedBytes);
    this.queuedBytes = 0;
    this.dropped = true;
  }

  private push(item: Promise<LiveItem | null>): void {
    this.queue.push(item);
    this.waiting?.();
    this.waiting = null;
  }

  /**
   * Ends the subscription now with a last item: what is queued and not yet sent is dropped (the
   * client resumes with `after` from the last change it received). A token's expiry ends this way:
   * behind a replay's queue the end came after the socket had closed, so the client was never told
   * why (found by the subscriptions probe).
   */
  endNow(item: LiveItem): void {
    if (this.ended) return;
    this.drop();
    this.finish(item);
  }

  /** Ends the subscription after what is queued, with a last item. */
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
        if (item.kind === 'delivery') this.uncount(item.delivery.bytes);
        else {
          // Nothing after an end is delivered: the next call completes the stream.
          this.finish(null);
          this.drop();
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
    this.drop();
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
