import type { DomainEvent, EventHandler, EventTransport, SubscribeOptions } from './types';

/**
 * The single-process transport (`npm start`): handlers run in publish order, and `publish`
 * resolves once they ran, so the relay marks an event published only after every consumer of the
 * process saw it. A durable consumer whose handler throws makes `publish` fail (after the other
 * handlers ran): the relay does not mark the batch and publishes it again on its next pass, so the
 * consumer gets the event again (the others dedupe: live subscribers by sequence, durable ones by
 * their inbox). A live subscriber's failure is only reported. A process that stops mid-publish
 * left the events unmarked: they are published again at the next start.
 */
export function createInProcessTransport(onHandlerError: (error: unknown, event: DomainEvent) => void = () => {}): EventTransport {
  const handlers = new Set<{ handler: EventHandler; durable: boolean }>();
  return {
    kind: 'in-process',
    async publish(events) {
      for (const event of events) {
        let failure: unknown = null;
        for (const entry of [...handlers]) {
          try {
            await entry.handler(event);
          } catch (error) {
            onHandlerError(error, event);
            if (entry.durable) failure ??= error;
          }
        }
        if (failure) throw failure;
      }
    },
    async subscribe(handler, options: SubscribeOptions = {}) {
      // Each subscription is its own entry, even for the same function.
      const entry = { handler, durable: Boolean(options.durable) };
      handlers.add(entry);
      return { unsubscribe: async () => void handlers.delete(entry) };
    },
    async close() {
      handlers.clear();
    },
    ready: async () => true,
  };
}
