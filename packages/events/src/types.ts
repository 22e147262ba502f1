/**
 * Domain events and the one small interface every transport implements. Delivery is at least
 * once: a consumer may see an event again (after a relay crash between publish and mark) and must
 * use the event id to apply it once (see inbox.ts).
 */

export interface DomainEvent {
  /** Unique; consumers remember it to apply an event once. */
  id: string;
  /** The log the event belongs to: the emitting service, which is also its Postgres schema. */
  source: string;
  /**
   * Position in the source's log, as a decimal string (bigint): 1, 2, 3... in the order the relay
   * published them, with no gaps. Subscriptions resume from it (`after`).
   */
  sequence: string;
  aggregateType: string;
  aggregateId: string;
  /** 1, 2, 3... per aggregate: events of one object are applied in this order. */
  aggregateVersion: number;
  type: string;
  payload: unknown;
  occurredAt: string;
  /**
   * The W3C traceparent of the request that wrote the event, when it was traced: a consumer's span
   * continues that trace (so a notification links to the payment that caused it).
   */
  traceParent?: string;
}

export type EventHandler = (event: DomainEvent) => void | Promise<void>;

export interface SubscribeOptions {
  /**
   * A durable consumer name (e.g. `notifications`). The transport remembers how far the consumer
   * got and delivers what it missed while it was down; instances sharing the name share the work
   * where the transport can (NATS). A handler that throws gets the event again later.
   * Without it the subscription is live only: every subscriber receives every event published
   * after it subscribed (the gateway's fan-out).
   */
  durable?: string;
  /**
   * A durable consumer's way to apply several events at once, in the order given, with the effect
   * of `handler` on each in turn (a throw may leave the events before the failing one applied: the
   * consumer recognises them when they come again). A transport that reads events in batches may
   * hand it a batch instead of calling `handler` once per event; should it throw, the transport
   * hands that batch's events to `handler` one by one (so the failing event is the one retried).
   * Transports that do not batch ignore it.
   */
  handleBatch?: (events: readonly DomainEvent[]) => Promise<void>;
}

export interface EventSubscription {
  unsubscribe(): Promise<void>;
}

export interface EventTransport {
  /** Which implementation this is (`in-process`, `postgres`, `nats`), for logs and /ready. */
  readonly kind: string;
  /** Resolves once the transport has taken the events, which it delivers in the order given. */
  publish(events: readonly DomainEvent[]): Promise<void>;
  /** Resolves once the subscription is live: an event published after that is delivered. */
  subscribe(handler: EventHandler, options?: SubscribeOptions): Promise<EventSubscription>;
  close(): Promise<void>;
  /** Whether the transport can deliver right now (readiness of event consumers); absent: always. */
  ready?(): Promise<boolean>;
  /**
   * Retention's bound for a source's outbox: the lowest position some durable consumer has not
   * applied yet, when this transport reads consumers' progress from the outbox itself (PostgreSQL).
   * Absent or null: a published event is safe to prune (in-process consumers ran before the relay
   * marked it published; NATS keeps its own copy in the stream).
   */
  unappliedFrom?(source: string): Promise<bigint | null>;
}
