import type { DomainEvent, EventHandler, EventTransport } from './types';

/**
 * The single-process transport (`npm start`): handlers run in publish order; a failing handler is
 * reported and does not stop the others. Durable names are accepted and mean nothing here: the
 * process that publishes is the process that consumes, and the outbox keeps what was not yet
 * published across restarts.
 */
export function createInProcessTransport(onHandlerError: (error: unknown, event: DomainEvent) => void = () => {}): EventTransport {
  const handlers = new Set<EventHandler>();
  return {
    kind: 'in-process',
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
    async subscribe(handler) {
      // Each subscription is its own entry, even for the same function.
      const entry: EventHandler = (event) => handler(event);
      handlers.add(entry);
      return { unsubscribe: async () => void handlers.delete(entry) };
    },
    async close() {
      handlers.clear();
    },
  };
}
