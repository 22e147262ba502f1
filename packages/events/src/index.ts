/**
 * Domain events and the one small interface every transport implements. Delivery is at least
 * once: a consumer may see an event again (after a relay crash between publish and mark) and must
 * use the event id to apply it once.
 */

export interface DomainEvent {
  /** Unique; consumers remember it to apply an event once. */
  id: string;
  /** Global order of the emitting service's log, as a decimal string (bigint). */
  sequence: string;
  aggregateType: string;
  aggregateId: string;
  /** 1, 2, 3... per aggregate: events of one object are applied in this order. */
  aggregateVersion: number;
  type: string;
  payload: unknown;
  occurredAt: string;
}

export type EventHandler = (event: DomainEvent) => void | Promise<void>;

export interface EventTransport {
  /** Resolves once the transport has taken the events (in the order given). */
  publish(events: readonly DomainEvent[]): Promise<void>;
  /** Returns the function that stops the subscription. */
  subscribe(handler: EventHandler): () => void;
  close(): Promise<void>;
}

/**
 * The single-process transport (`npm start`): handlers run in publish order; a failing handler is
 * reported and does not stop the others.
 */
export function createInProcessTransport(onHandlerError: (error: unknown, event: DomainEvent) => void = () => {}): EventTransport {
  const handlers = new Set<EventHandler>();
  return {
    async publish(events) {
      for (const event of events) {
        for (const handler of [...handlers]) {
          try {
            await handler(event);
          } catch (error) {
            onHandlerError(error, event);
          }
        }
      }
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    async close() {
      handlers.clear();
    },
  };
}
