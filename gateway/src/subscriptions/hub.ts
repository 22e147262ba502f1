/**
 * The gateway's end of the payments event log: one live transport subscription per gateway
 * process, fanned out in memory to the WebSocket subscriptions that want each payment. Events
 * arrive in log order (the relay publishes in position order), so every listener sees them in
 * order too. Listening is synchronous: a subscription that registers and then reads the log for
 * what it missed can never fall into a gap between the two.
 *
 * The hub also watches the payments log's positions, which are gap-free (1, 2, 3...): a position
 * that jumps means the transport lost events on the way. The missing ones are read from the log
 * and delivered first, in order; if they cannot be read, every listener is interrupted with a
 * retryable error (the client resumes with `after`) instead of living on with a silent gap.
 */
import { GraphQLError } from 'graphql';
import { serviceUnavailable } from '@paygraph/errors';
import { PAYMENTS_SOURCE, STATUS_LOG_PAGE_MAX, toPaymentStatusChange, type DomainEvent, type EventSubscription, type EventTransport, type PaymentStatusChange } from '@paygraph/events';
import type { Logger } from '@paygraph/logging';

export { toPaymentStatusChange as toStatusChange, type PaymentStatusChange } from '@paygraph/events';

/** What a subscription asks of the payments log: after a position, narrowed in SQL. */
export interface LogFilter {
  paymentId: string | null;
  /** Only payments this user is the buyer or merchant of; null: every payment. */
  userId: string | null;
}
export type ReadStatusLog = (after: bigint, filter: LogFilter, limit: number) => Promise<PaymentStatusChange[]>;

export interface ChangeListener {
  (change: PaymentStatusChange): void;
}
/** Called once when the hub cannot guarantee this listener every change (a gap it could not fill). */
export type InterruptListener = (error: GraphQLError) => void;

/** Pages read to fill one gap; a larger gap interrupts the listeners rather than stall the hub. */
export const GAP_FILL_PAGES_MAX = 20;
/** The payments log's own page limit: a shorter page means the end of the log. */
export const GAP_FILL_PAGE = STATUS_LOG_PAGE_MAX;

export interface PaymentEventHub {
  /**
   * Listens to one payment, or to every payment (null); with `userId`, only to the payments whose
   * buyer or merchant is that user (every payment: null). Returns the function that stops it.
   */
  listen(paymentId: string | null, listener: ChangeListener, userId?: string | null, interrupted?: InterruptListener): () => void;
  /** Subscriptions currently listening (for metrics and tests). */
  readonly listeners: number;
  /** Gaps in the live feed found so far, filled or not (metrics, tests). */
  readonly gaps: number;
  stop(): Promise<void>;
}

export async function startPaymentEventHub(transport: EventTransport, logger: Logger, options: { readLog?: ReadStatusLog } = {}): Promise<PaymentEventHub> {
  const byPayment = new Map<string, Set<ChangeListener>>();
  const everyPayment = new Set<ChangeListener>();
  const byUser = new Map<string, Set<ChangeListener>>();
  const interruptions = new Map<ChangeListener, InterruptListener>();
  let count = 0;
  let gaps = 0;
  /** The last payments position seen live (null until the first event). */
  let last: bigint | null = null;
  /** Events are handled one after another, so a gap being filled holds the ones behind it. */
  let chain: Promise<void> = Promise.resolve();

  const deliver = (listener: ChangeListener, change: PaymentStatusChange) => {
    try {
      listener(change);
    } catch (error) {
      logger.error({ err: error, paymentId: change.paymentId }, 'payment event listener failed');
    }
  };
  const dispatch = (change: PaymentStatusChange) => {
    for (const listener of byPayment.get(change.paymentId) ?? []) deliver(listener, change);
    for (const listener of byUser.get(change.buyerId) ?? []) deliver(listener, change);
    if (change.merchantId !== change.buyerId) for (const listener of byUser.get(change.merchantId) ?? []) deliver(listener, change);
    for (const listener of everyPayment) deliver(listener, change);
  };
  const interruptAll = (reason: string) => {
    const error = serviceUnavailable(`Payment events were interrupted (${reason}); subscribe again with \`after\` set to the last sequence received.`);
    for (const interrupt of [...interruptions.values()]) interrupt(error);
  };

  /** Delivers the status changes strictly between `from` and `to` from the log, or interrupts. */
  const fill = async (from: bigint, to: bigint): Promise<void> => {
    gaps += 1;
    logger.warn({ from: from.toString(), to: to.toString() }, 'payment events skipped a position; filling the gap from the log');
    if (!options.readLog) return interruptAll('a gap in the live feed');
    try {
      let cursor = from;
      for (let page = 0; page < GAP_FILL_PAGES_MAX; page += 1) {
        const changes = await options.readLog(cursor, { paymentId: null, userId: null }, GAP_FILL_PAGE);
        for (const change of changes) {
          if (change.sequence >= to) return;
          dispatch(change);
          cursor = change.sequence;
        }
        if (changes.length < GAP_FILL_PAGE) return;
      }
      interruptAll('a gap too large to fill');
    } catch (error) {
      logger.error({ err: error }, 'a gap in payment events could not be filled');
      interruptAll('the payments log could not be read');
    }
  };

  const handle = async (event: DomainEvent): Promise<void> => {
    if (event.source !== PAYMENTS_SOURCE) return;
    const position = BigInt(event.sequence);
    if (last !== null && position <= last) return; // delivered again (at least once): seen
    if (last !== null && position > last + 1n) await fill(last, position);
    last = position;
    const change = toPaymentStatusChange(event);
    if (change) dispatch(change);
  };

  const subscription: EventSubscription = await transport.subscribe((event) => {
    chain = chain.then(() => handle(event)).catch((error: unknown) => logger.error({ err: error }, 'payment event handling failed'));
  });
  return {
    listen(paymentId, listener, userId = null, interrupted) {
      let set = everyPayment;
      const index = paymentId !== null ? byPayment : userId !== null ? byUser : null;
      const key = paymentId ?? userId;
      if (index && key !== null) {
        set = index.get(key) ?? new Set();
        index.set(key, set);
      }
      set.add(listener);
      if (interrupted) interruptions.set(listener, interrupted);
      count += 1;
      let listening = true;
      return () => {
        if (!listening) return;
        listening = false;
        count -= 1;
        set.delete(listener);
        interruptions.delete(listener);
        if (index && key !== null && set.size === 0) index.delete(key);
      };
    },
    get listeners() {
      return count;
    },
    get gaps() {
      return gaps;
    },
    async stop() {
      await subscription.unsubscribe();
      await chain;
    },
  };
}
