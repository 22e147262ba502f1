// Start-up waits for what it needs with backoff, logging each failed attempt under the name of what
// is unavailable: the event transport's wait names the event transport (NATS or the database that
// carries the events), not "database" (with NATS down, the log said the database was unavailable).
import { expect, it } from 'vitest';
import { waitForDatabase } from '../src';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4222'), { code: 'ECONNREFUSED' });

function recorder() {
  const messages: string[] = [];
  return { messages, logger: { warn: (_fields: Record<string, unknown>, message: string) => messages.push(message), info: (_fields: Record<string, unknown>, message: string) => messages.push(message) } };
}

it('retries while unavailable and names what it waits for', async () => {
  const { messages, logger } = recorder();
  let attempts = 0;
  const result = await waitForDatabase(
    'event transport',
    async () => {
      attempts += 1;
      if (attempts === 1) throw refused();
      return 'connected';
    },
    { logger, dependency: 'event transport', waitMs: 5_000 },
  );
  expect(result).toBe('connected');
  expect(messages).toEqual(['event transport unavailable at start-up: retrying', 'event transport reachable: start-up continues']);
});

it('says database when it waits for one, and gives up past its wait', async () => {
  const { messages, logger } = recorder();
  await expect(
    waitForDatabase(
      'payments migrations',
      async () => {
        throw refused();
      },
      { logger, waitMs: 0 },
    ),
  ).rejects.toThrow(/ECONNREFUSED/);
  expect(messages).toEqual(['database still unavailable: giving up start-up']);
});
