/**
 * The transport a process uses: NATS JetStream when NATS_URL is set, PostgreSQL LISTEN/NOTIFY
 * (the outbox as the log) when DATABASE_URL is set, in-process otherwise. EVENT_TRANSPORT
 * (`in-process`, `postgres`, `nats`) chooses explicitly. Every process of a deployment must make
 * the same choice, or publishers and subscribers never meet.
 */
import { ConfigError, envSchemas, parseEnv } from '@paygraph/config';
import type { Logger } from '@paygraph/logging';
import { createInProcessTransport } from './in-process';
import { createNatsTransport } from './nats';
import { createPostgresTransport } from './postgres';
import type { EventTransport } from './types';

/** The transport chosen, with the URL it connects to. */
export type EventTransportChoice = { kind: 'in-process' } | { kind: 'postgres'; url: string } | { kind: 'nats'; url: string; stream: string; subjectPrefix: string; retentionSeconds: number };

const transportShape = {
  EVENT_TRANSPORT: envSchemas.common.EVENT_TRANSPORT,
  NATS_URL: envSchemas.common.NATS_URL,
  NATS_STREAM: envSchemas.common.NATS_STREAM,
  NATS_SUBJECT_PREFIX: envSchemas.common.NATS_SUBJECT_PREFIX,
  DATABASE_URL: envSchemas.common.DATABASE_URL,
  EVENT_RETENTION_SECONDS: envSchemas.common.EVENT_RETENTION_SECONDS,
};

/** Which transport `env` asks for, with the URL it needs; a ConfigError when that URL is missing. */
export function chooseEventTransport(env: NodeJS.ProcessEnv): EventTransportChoice {
  const { EVENT_TRANSPORT, NATS_URL, NATS_STREAM, NATS_SUBJECT_PREFIX, DATABASE_URL, EVENT_RETENTION_SECONDS } = parseEnv(transportShape, env);
  const kind = EVENT_TRANSPORT ?? (NATS_URL ? 'nats' : DATABASE_URL ? 'postgres' : 'in-process');
  switch (kind) {
    case 'in-process':
      return { kind };
    case 'postgres':
      if (!DATABASE_URL) throw new ConfigError('Invalid configuration: EVENT_TRANSPORT=postgres needs DATABASE_URL (the database holding the services\' outboxes)');
      return { kind, url: DATABASE_URL };
    case 'nats':
      if (!NATS_URL) throw new ConfigError('Invalid configuration: EVENT_TRANSPORT=nats needs NATS_URL (e.g. nats://127.0.0.1:4222)');
      return { kind, url: NATS_URL, stream: NATS_STREAM, subjectPrefix: NATS_SUBJECT_PREFIX, retentionSeconds: EVENT_RETENTION_SECONDS };
  }
}

export async function createEventTransport(options: { env: NodeJS.ProcessEnv; logger: Logger }): Promise<EventTransport> {
  const { logger } = options;
  const choice = chooseEventTransport(options.env);
  switch (choice.kind) {
    case 'in-process':
      return createInProcessTransport((error, event) => logger.error({ err: error, eventId: event.id }, 'event handler failed'));
    case 'postgres':
      return createPostgresTransport({ url: choice.url, logger });
    case 'nats':
      return createNatsTransport({ servers: choice.url, logger, stream: choice.stream, subjectPrefix: choice.subjectPrefix, retentionSeconds: choice.retentionSeconds });
  }
}
