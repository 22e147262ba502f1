// Webhook endpoint changes are recorded in their own transaction: registering, disabling, enabling,
// rotating a secret and deleting each leave their record in notifications.audit_outbox, and a change
// whose record cannot be written fails and changes nothing (no change without its record, as a
// crash between the two used to allow).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auditInTransaction, type AuditEntry } from '@paygraph/audit';
import { unsentOutboxRecorder, waitingRecords, withOutboxUnwritable } from '@paygraph/audit/testing';
import type { ServiceDatabase } from '@paygraph/db';
import { openOwnServiceDatabase } from '@paygraph/db/testing';
import { schema } from '../src/db/schema';
import { migrationsFolder } from '../src/server';
import { createNotificationsStore, type NotificationsStore } from '../src/store/notifications-store';

let database: ServiceDatabase<typeof schema>;
let store: NotificationsStore;
const request = { requestId: 'req-webhook-audit' };
const MERCHANT = 'usr_merchant_audit';

beforeAll(async () => {
  database = await openOwnServiceDatabase({ service: 'notifications', schema, migrationsFolder, label: 'notifications_audit' });
  store = createNotificationsStore(database);
});

afterAll(async () => {
  await database?.close();
});

const recorder = () => unsentOutboxRecorder('notifications', database.query);
const entry = (type: string, subjectId: string): AuditEntry => ({ type, actorId: MERCHANT, subjectId, outcome: 'SUCCESS' });
const recorded = async () => (await waitingRecords('notifications', database.query)).map((row) => [row.type, row.subject_id]);

it('writes each endpoint change and its record together', async () => {
  const audit = recorder();
  const created = await store.createEndpoint(MERCHANT, 'https://hooks.example.test/a', 'sealed-1', auditInTransaction(audit, request, (id: string) => entry('webhook.endpoint_registered', id)));
  const id = created!.id;
  expect((await store.setEndpointEnabled(MERCHANT, id, false, auditInTransaction(audit, request, () => entry('webhook.endpoint_disabled', id))))!.disabledAt).not.toBeNull();
  expect((await store.setEndpointEnabled(MERCHANT, id, true, auditInTransaction(audit, request, () => entry('webhook.endpoint_enabled', id))))!.disabledAt).toBeNull();
  expect((await store.rotateSecret(MERCHANT, id, 'sealed-2', 60, auditInTransaction(audit, request, () => entry('webhook.secret_rotated', id))))!.secretSealed).toBe('sealed-2');
  // Another merchant's endpoint is not found: nothing changes and nothing is recorded.
  expect(await store.rotateSecret('usr_someone_else', id, 'sealed-x', 60, auditInTransaction(audit, request, () => entry('webhook.secret_rotated', id)))).toBeNull();
  expect(await store.deleteEndpoint(MERCHANT, id, auditInTransaction(audit, request, () => entry('webhook.endpoint_deleted', id)))).toBe(true);
  expect(await recorded()).toEqual([
    ['webhook.endpoint_registered', id],
    ['webhook.endpoint_disabled', id],
    ['webhook.endpoint_enabled', id],
    ['webhook.secret_rotated', id],
    ['webhook.endpoint_deleted', id],
  ]);
});

it('makes no endpoint change whose record cannot be written', async () => {
  const audit = recorder();
  const kept = (await store.createEndpoint(MERCHANT, 'https://hooks.example.test/kept', 'sealed-kept'))!;
  const before = await recorded();
  const endpointsBefore = (await store.endpointsOf(MERCHANT)).length;
  await withOutboxUnwritable('notifications', database.query, async () => {
    await expect(store.createEndpoint(MERCHANT, 'https://hooks.example.test/new', 'sealed-new', auditInTransaction(audit, request, (id: string) => entry('webhook.endpoint_registered', id)))).rejects.toThrow();
    await expect(store.setEndpointEnabled(MERCHANT, kept.id, false, auditInTransaction(audit, request, () => entry('webhook.endpoint_disabled', kept.id)))).rejects.toThrow();
    await expect(store.rotateSecret(MERCHANT, kept.id, 'sealed-rotated', 60, auditInTransaction(audit, request, () => entry('webhook.secret_rotated', kept.id)))).rejects.toThrow();
    await expect(store.deleteEndpoint(MERCHANT, kept.id, auditInTransaction(audit, request, () => entry('webhook.endpoint_deleted', kept.id)))).rejects.toThrow();
  });
  const now = (await store.endpointById(kept.id))!;
  expect(now).toMatchObject({ disabledAt: null, secretSealed: 'sealed-kept', previousSecretSealed: null });
  expect((await store.endpointsOf(MERCHANT)).length).toBe(endpointsBefore);
  expect(await recorded()).toEqual(before);
});
