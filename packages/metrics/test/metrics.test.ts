// Proves the shared metrics module's rules without a server: a registry per service (one process,
// several services), timed resolvers that time only root fields and entity references and change
// nothing else, bounded operation labels, composition polling told apart by body, and gauges read
// from sources that come and go.
import { GraphQLScalarType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { isCompositionRequestBody, OPERATION_NAMES_MAX, operationLabeller, requestKindOf, serviceMetrics } from '../src/index';

const count = (text: string, field: string) => Number(new RegExp(`^graphql_resolver_duration_seconds_count\\{field="${field}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);

describe('serviceMetrics', () => {
  it('keeps one registry per service, each exposing the process metrics too', async () => {
    const first = serviceMetrics('unit-first');
    expect(serviceMetrics('unit-first')).toBe(first);
    first.counter('unit_only_first_total', 'test', []).inc();
    const second = await serviceMetrics('unit-second').exposition();
    expect(await first.exposition()).toContain('unit_only_first_total 1');
    expect(second).not.toContain('unit_only_first_total');
    expect(second).toContain('process_cpu_user_seconds_total');
  });

  it('reads gauges from their sources at scrape time, summing samples, forgetting removed sources and failed reads', async () => {
    const metrics = serviceMetrics('unit-gauges');
    const gauge = metrics.gauge('unit_queue_depth', 'test', ['state']);
    const removeFirst = gauge.addSource(() => [[{ state: 'due' }, 2]]);
    gauge.addSource(async () => [[{ state: 'due' }, 3]]);
    gauge.addSource(async () => {
      throw new Error('database down');
    });
    expect(await metrics.exposition()).toContain('unit_queue_depth{state="due"} 5');
    removeFirst();
    expect(await metrics.exposition()).toContain('unit_queue_depth{state="due"} 3');
  });
});

describe('timedResolvers', () => {
  it('times root fields and entity references, passes results and errors through, leaves the rest alone', async () => {
    const metrics = serviceMetrics('unit-resolvers');
    const scalar = new GraphQLScalarType({ name: 'Unit' });
    const nested = () => 'nested';
    const timed = metrics.timedResolvers({
      Unit: scalar,
      Query: { sync: () => 1, async: async () => 2, fails: async () => Promise.reject(new Error('no')) },
      Mutation: { throws: () => { throw new Error('thrown'); } },
      Payment: { __resolveReference: async () => ({ id: 'pay_1' }), nested },
    });
    expect(timed.Unit).toBe(scalar);
    expect(timed.Payment.nested).toBe(nested);
    expect(timed.Query.sync()).toBe(1);
    await expect(timed.Query.async()).resolves.toBe(2);
    await expect(timed.Query.fails()).rejects.toThrow('no');
    expect(() => timed.Mutation.throws()).toThrow('thrown');
    await expect(timed.Payment.__resolveReference()).resolves.toEqual({ id: 'pay_1' });
    const text = await metrics.exposition();
    for (const field of ['Query.sync', 'Query.async', 'Query.fails', 'Mutation.throws', 'Payment.__resolveReference']) expect(count(text, field), field).toBe(1);
    expect(text).not.toContain('field="Payment.nested"');
  });
});

describe('labels', () => {
  it('bounds operation names: anonymous, invalid, then other past the limit', () => {
    const label = operationLabeller();
    expect(label(undefined)).toBe('anonymous');
    expect(label('not a name')).toBe('invalid');
    for (let index = 0; index < OPERATION_NAMES_MAX; index += 1) expect(label(`Operation${index}`)).toBe(`Operation${index}`);
    expect(label('OneTooMany')).toBe('other');
    expect(label('Operation0')).toBe('Operation0');
  });

  it('tells composition polling from traffic by operation name and by the gateway request body', () => {
    expect(requestKindOf('__ApolloGetServiceDefinition__')).toBe('composition');
    expect(requestKindOf('__ApolloServiceHealthCheck__')).toBe('composition');
    expect(requestKindOf('Me')).toBe('traffic');
    expect(isCompositionRequestBody(JSON.stringify({ query: 'query __ApolloGetServiceDefinition__ { _service { sdl } }' }))).toBe(true);
    expect(isCompositionRequestBody(JSON.stringify({ query: 'query __ApolloServiceHealthCheck__ { __typename }' }))).toBe(true);
    expect(isCompositionRequestBody(JSON.stringify({ query: 'query Me__users__0 { me { id } }', operationName: 'Me__users__0' }))).toBe(false);
    expect(isCompositionRequestBody(undefined)).toBe(false);
  });
});
