/**
 * For tests of a service's store: a recorder over the service's own audit outbox (its relay never
 * started, so nothing is sent), the records waiting there, and the outbox made unwritable for a
 * while (renamed away), to prove that a change whose record cannot be written does not happen.
 */
import type { SqlRunner } from '@paygraph/db';
import { createLogger } from '@paygraph/logging';
import { createServiceClient } from '@paygraph/service-client';
import { createOutboxAuditRecorder, type DurableAuditRecorder } from './outbox';

/** A recorder writing to `<source>.audit_outbox` through `query`; its relay is never started. */
export function unsentOutboxRecorder(source: string, query: SqlRunner['query']): DurableAuditRecorder {
  const unreachable = 'http://127.0.0.1:1/graphql';
  const client = createServiceClient({ service: source, serviceSecret: 'test-secret-never-used-0123456789abcdef', directory: { url: () => unreachable, urls: () => [unreachable] } });
  return createOutboxAuditRecorder({ source, query, client, logger: createLogger({ level: 'silent' }) });
}

/** The records waiting in `<source>.audit_outbox`, oldest first. */
export function waitingRecords(source: string, query: SqlRunner['query']) {
  return query<{ type: string; actor_id: string | null; subject_id: string | null; outcome: string; request_id: string | null; details: string | null }>(
    `select type, actor_id, subject_id, outcome, request_id, details from "${source}".audit_outbox order by sequence`,
  );
}

/** Runs `work` while `<source>.audit_outbox` cannot be written (renamed away), then puts it back. */
export async function withOutboxUnwritable<T>(source: string, query: SqlRunner['query'], work: () => Promise<T>): Promise<T> {
  await query(`alter table "${source}".audit_outbox rename to audit_outbox_away`);
  try {
    return await work();
  } finally {
    await query(`alter table "${source}".audit_outbox_away rename to audit_outbox`);
  }
}
