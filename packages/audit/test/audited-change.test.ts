// auditedChange: the record is written through the change's transaction, and the relay is told only
// once the change has committed (resolved), never from inside it, nor for a change that failed or
// recorded nothing.
import { describe, expect, it } from 'vitest';
import type { SqlRunner } from '@paygraph/db';
import { auditedChange, type AuditEntry, type AuditRecorder } from '../src';

function fakeRecorder() {
  const events: string[] = [];
  const recorder: AuditRecorder = {
    record: async (request, entry) => {
      events.push(`record ${entry.type} ${request.sql ? 'in transaction' : 'alone'} ${request.requestId ?? ''}`.trim());
    },
    committed: () => events.push('committed'),
  };
  return { recorder, events };
}

const sql: SqlRunner = { query: async () => [] };
const entry = (type: string): AuditEntry => ({ type, actorId: 'usr_a', subjectId: 'x', outcome: 'SUCCESS' });

describe('auditedChange', () => {
  it('records in the change’s transaction and tells the relay after the change resolved', async () => {
    const { recorder, events } = fakeRecorder();
    const result = await auditedChange(recorder, { requestId: 'req-1' }, (id: string) => entry(`made.${id}`), async (audit) => {
      await audit!(sql, 'one');
      events.push('commit');
      return 42;
    });
    expect(result).toBe(42);
    expect(events).toEqual(['record made.one in transaction req-1', 'commit', 'committed']);
  });

  it('does not tell the relay when the change fails after recording, or records nothing', async () => {
    const { recorder, events } = fakeRecorder();
    await expect(
      auditedChange(recorder, {}, () => entry('made.failed'), async (audit) => {
        await audit!(sql, undefined);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await auditedChange(recorder, {}, (revoked: number) => (revoked > 0 ? entry('made.revoked') : null), async (audit) => (await audit!(sql, 0), 'nothing'))).toBe('nothing');
    expect(await auditedChange(recorder, {}, () => entry('made.none'), async () => 'not found')).toBe('not found');
    expect(events).toEqual(['record made.failed in transaction']);
  });

  it('runs the change unaudited without a recorder', async () => {
    expect(await auditedChange(undefined, {}, () => entry('made.unaudited'), async (audit) => (audit === undefined ? 'unaudited' : 'audited'))).toBe('unaudited');
  });
});
