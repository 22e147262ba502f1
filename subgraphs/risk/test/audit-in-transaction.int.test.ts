// Rule and blocklist changes are recorded in their own transaction: each change leaves its record in
// risk.audit_outbox, and a change whose record cannot be written fails and changes nothing (no
// change without its record, as a crash between the two used to allow).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auditInTransaction } from '@paygraph/audit';
import { unsentOutboxRecorder, waitingRecords, withOutboxUnwritable } from '@paygraph/audit/testing';
import type { ServiceDatabase } from '@paygraph/db';
import { openOwnServiceDatabase } from '@paygraph/db/testing';
import { schema } from '../src/db/schema';
import { DEFAULT_RULE_SET } from '../src/domain/rules';
import { migrationsFolder } from '../src/server';
import { createRiskStore } from '../src/store/risk-store';

let database: ServiceDatabase<typeof schema>;
const request = { requestId: 'req-risk-audit' };

beforeAll(async () => {
  database = await openOwnServiceDatabase({ service: 'risk', schema, migrationsFolder, label: 'risk_audit' });
});

afterAll(async () => {
  await database?.close();
});

it('writes each change and its record together, and no change whose record cannot be written', async () => {
  const store = createRiskStore(database);
  const recorder = unsentOutboxRecorder('risk', database.query);
  const entry = (type: string, subjectId: string) => () => ({ type, actorId: 'usr_admin', subjectId, outcome: 'SUCCESS' as const });
  const version = async () => (await store.currentRuleSet()).version;
  const blocklisted = async (value: string) => (await store.listBlocklist()).some((row) => row.value === value);

  const before = await version();
  const saved = await store.saveRuleSet(DEFAULT_RULE_SET, 'usr_admin', auditInTransaction(recorder, request, (row) => entry('risk.rules_updated', `rules:${row.version}`)()));
  expect(saved.version).toBe(before + 1);
  await store.addToBlocklist({ kind: 'USER', value: 'usr_listed', createdBy: 'usr_admin' }, auditInTransaction(recorder, request, entry('risk.blocklist_added', 'USER:usr_listed')));
  expect(await store.removeFromBlocklist('USER', 'usr_listed', auditInTransaction(recorder, request, entry('risk.blocklist_removed', 'USER:usr_listed')))).toBe(true);
  // Removing what is not there changes nothing and records nothing.
  expect(await store.removeFromBlocklist('USER', 'usr_listed', auditInTransaction(recorder, request, entry('risk.blocklist_removed', 'USER:usr_listed')))).toBe(false);
  expect((await waitingRecords('risk', database.query)).map((row) => [row.type, row.subject_id, row.request_id])).toEqual([
    ['risk.rules_updated', `rules:${saved.version}`, 'req-risk-audit'],
    ['risk.blocklist_added', 'USER:usr_listed', 'req-risk-audit'],
    ['risk.blocklist_removed', 'USER:usr_listed', 'req-risk-audit'],
  ]);

  await store.addToBlocklist({ kind: 'USER', value: 'usr_kept', createdBy: 'usr_admin' });
  await withOutboxUnwritable('risk', database.query, async () => {
    await expect(store.saveRuleSet(DEFAULT_RULE_SET, 'usr_admin', auditInTransaction(recorder, request, () => entry('risk.rules_updated', 'rules:x')()))).rejects.toThrow();
    await expect(store.addToBlocklist({ kind: 'USER', value: 'usr_new', createdBy: 'usr_admin' }, auditInTransaction(recorder, request, entry('risk.blocklist_added', 'USER:usr_new')))).rejects.toThrow();
    await expect(store.removeFromBlocklist('USER', 'usr_kept', auditInTransaction(recorder, request, entry('risk.blocklist_removed', 'USER:usr_kept')))).rejects.toThrow();
  });
  expect(await version()).toBe(saved.version);
  expect(await blocklisted('usr_new')).toBe(false);
  expect(await blocklisted('usr_kept')).toBe(true);
  expect(await waitingRecords('risk', database.query)).toHaveLength(3);
});
