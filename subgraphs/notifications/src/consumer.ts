/**
 * The event consumer: turns payments' and users' events into notifications and webhook
 * deliveries, once per event (the inbox). What a message needs from the users service (a user
 * this service has not heard of yet) is fetched before the transaction opens: the transaction
 * uses only its own connection (on the embedded database, a call to another service from inside
 * it would wait on that same connection for ever). A user this process has seen a recipient row
 * for is not checked again (rows are never deleted; the transaction still verifies it).
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

  // Users seen with a recipient row (rows are only ever inserted and updated, never deleted): their
  // check before the transaction is skipped. Should one have lost its row all the same, the
  // transaction finds it missing, rolls back, and the event is applied again with that user checked.
  const known = knownRecipients(KNOWN_RECIPIENTS_MAX);

  return {
    async handle(event) {
      const plan = planEvent(event);
      if (!plan) {
        if (event.source === 'payments' || event.source === 'users') logger.debug({ eventId: event.id, type: event.type }, 'event asks nothing of notifications');
        return false;
      }
      const userIds = [...new Set(plan.userIds)];
      let assumed = new Set(userIds.filter((userId) => known.has(userId)));
      for (;;) {
        const unknown = await store.unknownRecipients(userIds.filter((userId) => !assumed.has(userId)));
        const lookedUp = (await Promise.all(unknown.map(lookUp))).filter((user): user is RecipientFacts => user !== null);
        const result = await store.applyEvent(event, plan, lookedUp, assumed);
        if (result.gone.length > 0) {
          for (const userId of result.gone) known.forget(userId);
          assumed = new Set();
          continue;
        }
        for (const userId of result.recipients) known.add(userId);
        if (result.deliveries > 0) options.onDeliveriesCreated();
        return result.applied;
      }
    },
  };
}

/** Users remembered as having a recipient row, per process; the least recently used are forgotten. */
export const KNOWN_RECIPIENTS_MAX = 50_000;

function knownRecipients(max: number) {
  const ids = new Set<string>();
  return {
    has(userId: string): boolean {
      if (!ids.has(userId)) return false;
      ids.delete(userId);
      ids.add(userId);
      return true;
    },
    add(userId: string): void {
      ids.delete(userId);
      ids.add(userId);
      if (ids.size > max) ids.delete(ids.values().next().value!);
    },
    forget(userId: string): void {
      ids.delete(userId);
    },
  };
}
