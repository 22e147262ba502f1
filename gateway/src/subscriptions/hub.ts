/**
 * The gateway's end of the payments event log: one live transport subscription per gateway
 * process, fanned out in memory to the WebSocket subscriptions that want each payment. Events
 * arrive in log order (the relay publishes in position order), so every listener sees them in
 * order too. Listening is synchronous: a subscription that registers and then reads the log for
 * what it missed can never fall into a gap between the two.
 */
import type { DomainEvent, EventSubscription, EventTransport } from '@paygraph/events';
import type { Logger } from '@paygraph/logging';

/** A payment's status change, from the payments log (live event or replay). */
export interface PaymentStatusChange {
  sequence: bigint;
  paymentId: string;
  buyerId: string;
  merchantId: string;
  status: string;
  previousStatus: string | null;
  occurredAt: string;
}

interface PaymentEventPayload {
  paymentId?: unknown;
  buyerId?: unknown;
  merchantId?: unknown;
  status?: unknown;
  previousStatus?: unknown;
}

/** Payment events whose status differs from the one before (a refund that keeps SUCCEEDED is not one). */
export function toStatusChange(event: DomainEvent): PaymentStatusChange | null {
  if (event.source !== 'payments' || event.aggregateType !== 'Payment') return null;
  const payload = event.payload as PaymentEventPayload;
  if (typeof payload.status !== 'string' || payload.status === payload.previousStatus) return null;
  if (typeof payload.buyerId !== 'string' || typeof payload.merchantId !== 'string') return null;
  return {
    sequence: BigInt(event.sequence),
    paymentId: event.aggregateId,
    buyerId: payload.buyerId,
    merchantId: payload.merchantId,
    status: payload.status,
    previousStatus: typeof payload.previousStatus === 'string' ? payload.previousStatus : null,
    occurredAt: event.occurredAt,
  };
}

export type ChangeListener = (change: PaymentStatusChange) => void;

export interface PaymentEventHub {
  /**
   * Listens to one payment, or to every payment (null); with `userId`, only to the payments whose
   * buyer or merchant is that user (every payment: null). Returns the function that stops it.
   */
  listen(paymentId: string | null, listener: ChangeListener, userId?: string | null): () => void;
  /** Subscriptions currently listening (for metrics and tests). */
  readonly listeners: number;
  stop(): Promise<void>;
}

export async function startPaymentEventHub(transport: EventTransport, logger: Logger): Promise<PaymentEventHub> {
  const byPayment = new Map<string, Set<ChangeListener>>();
  const everyPayment = new Set<ChangeListener>();
  const byUser = new Map<string, Set<ChangeListener>>();
  let count = 0;
  const deliver = (listener: ChangeListener, change: PaymentStatusChange) => {
    try {
      listener(change);
    } catch (error) {
      logger.error({ err: error, paymentId: change.paymentId }, 'payment event listener failed');
    }
  };
  const subscription: EventSubscription = await transport.subscribe((event) => {
    const change = toStatusChange(event);
    if (!change) return;
    for (const listener of byPayment.get(change.paymentId) ?? []) deliver(listener, change);
    for (const listener of byUser.get(change.buyerId) ?? []) deliver(listener, change);
    if (change.merchantId !== change.buyerId) for (const listener of byUser.get(change.merchantId) ?? []) deliver(listener, change);
    for (const listener of everyPayment) deliver(listener, change);
  });
  return {
    listen(paymentId, listener, userId = null) {
      let set = everyPayment;
      const index = paymentId !== null ? byPayment : userId !== null ? byUser : null;
      const key = paymentId ?? userId;
      if (index && key !== null) {
        set = index.get(key) ?? new Set();
        index.set(key, set);
      }
      set.add(listener);
      count += 1;
      let listening = true;
      return () => {
        if (!listening) return;
        listening = false;
        count -= 1;
        set.delete(listener);
        if (index && key !== null && set.size === 0) index.delete(key);
      };
    },
    get listeners() {
      return count;
    },
    stop: () => subscription.unsubscribe(),
  };
}
