// What an assessment reads before it decides, in one statement: on a database that has no rule set
// yet, the defaults are created (version 1); a user or email domain on the blocklist is seen.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { schema } from '../src/db/schema';
import { migrationsFolder } from '../src/server';
import { createRiskStore } from '../src/store/risk-store';

let database: ServiceDatabase<typeof schema>;

beforeAll(async () => {
  database = await openServiceDatabase({ service: 'risk', target: { kind: 'pglite', dataDir: 'memory://assessment-inputs' }, schema, migrationsFolder });
});

afterAll(async () => {
  await database?.close();
});

it('creates the default rule set on first use and reads the blocklist in the same call', async () => {
  // Called as a plain function (not as a method): it must not depend on `this`.
  const { assessmentInputs, addToBlocklist } = createRiskStore(database);
  const first = await assessmentInputs('usr_clean', ['example.test']);
  expect(first.ruleSet.version).toBe(1);
  expect(first.blocklisted).toBe(false);
  await addToBlocklist({ kind: 'EMAIL_DOMAIN', value: 'blocked.test', createdBy: 'usr_admin' });
  await addToBlocklist({ kind: 'USER', value: 'usr_blocked', createdBy: 'usr_admin' });
  expect((await assessmentInputs('usr_clean', ['example.test', 'blocked.test'])).blocklisted).toBe(true);
  expect((await assessmentInputs('usr_blocked', [])).blocklisted).toBe(true);
  const again = await assessmentInputs('usr_clean', ['example.test']);
  expect(again).toMatchObject({ blocklisted: false, ruleSet: { version: 1, rules: first.ruleSet.rules } });
  expect(again.ruleSet.createdAt).toBeInstanceOf(Date);
});
