/**
 * The event consumer: turns payments' and users' events into notifications and webhook
 * deliveries, once per event (the inbox). What a message needs from the users service (a user
 * this service has not heard of yet) is fetched before the transaction opens: the transaction
 * uses only its own connection (on the embedded database, a call to another service from inside
 * it would wait on that same connection for ever).
 *
 * A handler that throws gets the event again later (the transport retries), so it throws only
 * for what may pass (users or the database unreachable); an event it cannot read is skipped.
 */
import type { DomainEvent } from '@paygraph/events';
import type { Logger } from '@paygraph/logging';
import type { ServiceClient } from '@paygraph/service-client';
import { planEvent, type RecipientFacts } from './domain/messages';
import { recipientOf } from './ports/users';
import type { NotificationsStore } from './store/notifications-store';

export interface EventConsumer {
  /** Applies an event; true when it changed something (false: not for us, or applied before). */
  handle(event: DomainEvent): Promise<boolean>;
}

export function createEventConsumer(options: { store: NotificationsStore; users: ServiceClient; logger: Logger; onDeliveriesCreated: () => void }): EventConsumer {
  const { store, users, logger } = options;

  async function lookUp(userId: string): Promise<RecipientFacts | null> {
    const user = await recipientOf(users, userId);
    if (!user) {
      logger.warn({ userId }, 'an event names a user the users service does not know; nobody to notify');
      return null;
    }
    return { userId: user.id, email: user.email, name: user.name, role: user.role };
  }

  return {
    async handle(event) {
      const plan = planEvent(event);
      if (!plan) {
        if (event.source === 'payments' || event.source === 'users') logger.debug({ eventId: event.id, type: event.type }, 'event asks nothing of notifications');
        return false;
      }
      const unknown = await store.unknownRecipients(plan.userIds);
      const lookedUp = (await Promise.all(unknown.map(lookUp))).filter((user): user is RecipientFacts => user !== null);
      const { applied, deliveries } = await store.applyEvent(event, plan, lookedUp);
      if (deliveries > 0) options.onDeliveriesCreated();
      return applied;
    },
  };
}
