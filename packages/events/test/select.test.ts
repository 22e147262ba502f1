// Proves how a process picks its event transport from the environment, and that a choice without
// the URL it needs stops start-up with a one-line configuration error naming the variable.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@paygraph/config';
import { createLogger } from '@paygraph/logging';
import { chooseEventTransport, createEventTransport } from '../src';

const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/paygraph';
const NATS_URL = 'nats://127.0.0.1:4222';

describe('chooseEventTransport', () => {
  it.each([
    [{}, { kind: 'in-process' }],
    [{ DATABASE_URL }, { kind: 'postgres', url: DATABASE_URL }],
    [{ NATS_URL }, { kind: 'nats', url: NATS_URL, stream: 'PAYGRAPH_EVENTS', subjectPrefix: 'paygraph.events', retentionSeconds: 2_592_000 }],
    [{ NATS_URL, NATS_STREAM: 'TEST_1', NATS_SUBJECT_PREFIX: 'test.one' }, { kind: 'nats', url: NATS_URL, stream: 'TEST_1', subjectPrefix: 'test.one', retentionSeconds: 2_592_000 }],
    [{ NATS_URL, DATABASE_URL }, { kind: 'nats', url: NATS_URL, stream: 'PAYGRAPH_EVENTS', subjectPrefix: 'paygraph.events', retentionSeconds: 2_592_000 }],
    [{ EVENT_TRANSPORT: 'postgres', NATS_URL, DATABASE_URL }, { kind: 'postgres', url: DATABASE_URL }],
    [{ EVENT_TRANSPORT: 'in-process', NATS_URL, DATABASE_URL }, { kind: 'in-process' }],
    [{ EVENT_TRANSPORT: 'nats', NATS_URL: 'tls://nats.internal:4222' }, { kind: 'nats', url: 'tls://nats.internal:4222', stream: 'PAYGRAPH_EVENTS', subjectPrefix: 'paygraph.events', retentionSeconds: 2_592_000 }],
    [{ DATABASE_URL, NATS_URL: '' }, { kind: 'postgres', url: DATABASE_URL }],
    [{ NATS_URL, EVENT_RETENTION_SECONDS: '3600' }, { kind: 'nats', url: NATS_URL, stream: 'PAYGRAPH_EVENTS', subjectPrefix: 'paygraph.events', retentionSeconds: 3_600 }],
  ])('%j chooses %j', (env, choice) => {
    expect(chooseEventTransport(env)).toEqual(choice);
  });

  it.each([
    [{ EVENT_TRANSPORT: 'postgres' }, 'Invalid configuration: EVENT_TRANSPORT=postgres needs DATABASE_URL'],
    [{ EVENT_TRANSPORT: 'postgres', NATS_URL }, 'Invalid configuration: EVENT_TRANSPORT=postgres needs DATABASE_URL'],
    [{ EVENT_TRANSPORT: 'nats', DATABASE_URL }, 'Invalid configuration: EVENT_TRANSPORT=nats needs NATS_URL'],
    [{ EVENT_TRANSPORT: 'kafka' }, 'Invalid configuration: EVENT_TRANSPORT must be in-process, postgres or nats (got "kafka")'],
    [{ NATS_URL: 'http://127.0.0.1:4222' }, 'Invalid configuration: NATS_URL must be a nats:// or tls:// URL'],
    [{ NATS_URL, NATS_STREAM: 'bad stream' }, 'Invalid configuration: NATS_STREAM must be 1 to 64 letters, digits, _ or -'],
  ])('%j is a configuration error', (env, message) => {
    expect(() => chooseEventTransport(env)).toThrow(ConfigError);
    expect(() => chooseEventTransport(env)).toThrow(message);
  });
});

describe('createEventTransport', () => {
  it('creates the in-process transport when nothing is shared', async () => {
    const transport = await createEventTransport({ env: {}, logger: createLogger({ level: 'silent' }) });
    expect(transport.kind).toBe('in-process');
    await transport.close();
  });
});
