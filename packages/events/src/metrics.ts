/**
 * What a service's /metrics says about its events. For an emitting service, read at scrape time
 * from its outbox: the log's head position, the unpublished events and the age of the oldest
 * (outbox lag: how long a committed change waits to reach the transport). For a durable consumer,
 * kept as it applies events: the position it applied last per source, how many it applied and how
 * late (the event's age when applied).
 *
 * Consumer lag in events is the producer's head minus the consumer's position, per source:
 * `max by (source) (events_log_head_position) - on (source) group_right max by (source, consumer) (events_consumer_position)`
 * (the producer and the consumer are different services, so it is computed where both are scraped).
 * A consumer's position is known once it applied an event since its process started.
 */
import { serviceMetrics } from '@paygraph/metrics';
import type { SqlRunner } from '@paygraph/db';
import type { DomainEvent } from './types';

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** Reports a source's outbox on its service's /metrics; returns what stops reporting it. */
export function reportOutbox(source: string, query: SqlRunner['query']): () => void {
  if (!IDENTIFIER.test(source)) throw new Error(`Invalid event source name: ${source}`);
  const table = `"${source}".outbox_events`;
  const metrics = serviceMetrics(source);
  // One read per scrape serves the three gauges (they are collected one after another).
  let pending: Promise<{ head: number; unpublished: number; ageSeconds: number }> | null = null;
  const read = () => {
    pending ??= query<{ head: string; unpublished: string; age_seconds: string }>(
      `select (select coalesce(max(position), 0) from ${table})::text as head, u.unpublished::text as unpublished,
              coalesce(extract(epoch from now() - u.oldest), 0)::text as age_seconds
         from (select count(*) as unpublished, min(created_at) as oldest from ${table} where published_at is null) u`,
    )
      .then(([row]) => ({ head: Number(row?.head ?? 0), unpublished: Number(row?.unpublished ?? 0), ageSeconds: Math.max(0, Number(row?.age_seconds ?? 0)) }))
      .finally(() => setImmediate(() => (pending = null)));
    return pending;
  };
  const removers = [
    metrics.gauge('events_log_head_position', 'Last position given to an event of this service\'s log (outbox), by source.', ['source']).addSource(async () => [[{ source }, (await read()).head]]),
    metrics.gauge('events_outbox_unpublished', 'Committed events of this service not yet handed to the transport, by source.', ['source']).addSource(async () => [[{ source }, (await read()).unpublished]]),
    metrics
      .gauge('events_outbox_lag_seconds', 'Age of the oldest unpublished event of this service\'s outbox (0 when none waits), by source.', ['source'])
      .addSource(async () => [[{ source }, (await read()).ageSeconds]]),
  ];
  return () => removers.forEach((remove) => remove());
}

/**
 * A durable consumer's progress on its service's /metrics: call the returned function once an
 * event is applied (its handler resolved).
 */
export function consumerProgress(service: string, consumer: string): { applied(event: DomainEvent): void; stop(): void } {
  const metrics = serviceMetrics(service);
  const positions = new Map<string, number>();
  const applied = metrics.counter('events_consumer_applied_total', 'Events a durable consumer handled (applied, or recognised as applied before), by consumer and source.', ['consumer', 'source']);
  const delay = metrics.histogram(
    'events_consumer_delay_seconds',
    'Age of an event when a durable consumer handled it (from the change that wrote it), by consumer and source.',
    ['consumer', 'source'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  );
  const stop = metrics
    .gauge('events_consumer_position', 'Position of the last event a durable consumer handled, by consumer and source (lag = the source\'s events_log_head_position minus this).', ['consumer', 'source'])
    .addSource(() => [...positions].map(([source, position]) => [{ consumer, source }, position] as const));
  return {
    applied(event) {
      const position = Number(event.sequence);
      if (position > (positions.get(event.source) ?? 0)) positions.set(event.source, position);
      applied.inc({ consumer, source: event.source });
      const age = (Date.now() - Date.parse(event.occurredAt)) / 1000;
      if (Number.isFinite(age)) delay.observe({ consumer, source: event.source }, Math.max(0, age));
    },
    stop,
  };
}
