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
import { planEvent, type EventPlan, type RecipientFacts } from './domain/messages';
import { recipientOf } from './ports/users';
import type { NotificationsStore } from './store/notifications-store';

export interface EventConsumer {
  /** Applies an event; true when it changed something (false: not for us, or applied before). */
  handle(event: DomainEvent): Promise<boolean>;
  /**
   * Applies events in the order given, with the effect of `handle` on each in turn: the payment
   * events of users already known, one after the other, go together (one read and one write for
   * the run, see the store's `applyEvents`); any other event is handled alone, in its place. A
   * throw leaves the events before it applied (the inbox recognises them when they come again).
   */
  handleBatch(events: readonly DomainEvent[]): Promise<void>;
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

  async function handle(event: DomainEvent): Promise<boolean> {
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
  }

  /** Events of users already known, applied together; should one have lost its row, each is handled alone. */
  async function applyRun(run: readonly { event: DomainEvent; plan: EventPlan }[]): Promise<void> {
    if (run.length === 1) {
      await handle(run[0]!.event);
      return;
    }
    const result = await store.applyEvents(run, new Set(run.flatMap(({ plan }) => plan.userIds)));
    if (result.gone.length > 0) {
      for (const userId of result.gone) known.forget(userId);
      for (const { event } of run) await handle(event);
      return;
    }
    for (const userId of result.recipients) known.add(userId);
    if (result.deliveries > 0) options.onDeliveriesCreated();
  }

  return {
    handle,
    async handleBatch(events) {
      let run: { event: DomainEvent; plan: EventPlan }[] = [];
      for (const event of events) {
        const plan = planEvent(event);
        // Not for us: nothing to write, so the run goes on past it.
        if (!plan) {
          await handle(event);
          continue;
        }
        if (!plan.recipient && plan.userIds.every((userId) => known.has(userId))) {
          run.push({ event, plan });
          continue;
        }
        if (run.length > 0) await applyRun(run);
        run = [];
        // A user event, or a user not seen yet: alone, as `handle` does it.
        await handle(event);
      }
      if (run.length > 0) await applyRun(run);
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
