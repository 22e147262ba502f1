// Proves the response ceiling counts bytes, as RESPONSE_SIZE_MAX_BYTES says, not characters: a
// subgraph response of multi-byte characters under the limit in characters and over it in bytes is
// refused with RESPONSE_TOO_LARGE before it is parsed, for the request that read it only; the same
// length in ASCII passes. The response the gateway sends is measured the same way.
import { describe, expect, it } from 'vitest';
import { loadLimitSettings } from '@paygraph/config';
import type { GatewayContext } from '../src/context';
import { createEdgeLimits } from '../src/limits';
import { createGatewayMetrics } from '../src/metrics';

const RESPONSE_SIZE_MAX_BYTES = 100;

function setUp() {
  const metrics = createGatewayMetrics();
  const edge = createEdgeLimits({ ...loadLimitSettings({}), RESPONSE_SIZE_MAX_BYTES }, metrics);
  const source = new edge.dataSource({ name: 'users', url: 'http://127.0.0.1:9/graphql', timeoutMs: 1_000, metrics });
  /** A request of its own: the plugin gives each context object its budget. */
  const request = async () => {
    const context = {} as GatewayContext;
    await edge.plugin.requestDidStart!({ contextValue: context } as never);
    return context;
  };
  return { edge, source, request };
}

/** A subgraph answer `{"data":{"name":"<name>"}}` as the fetcher hands it over. */
const answer = (name: string) => {
  const text = JSON.stringify({ data: { name } });
  return { text: async () => text, headers: { get: () => 'application/json' } } as never;
};

describe('RESPONSE_SIZE_MAX_BYTES', () => {
  it('refuses a subgraph response over the limit in bytes though under it in characters', async () => {
    const { source, request } = setUp();
    const euros = '€'.repeat(40); // 40 characters, 120 bytes in UTF-8
    expect(JSON.stringify({ data: { name: euros } }).length).toBeLessThan(RESPONSE_SIZE_MAX_BYTES);
    await expect(source.parseBody(answer(euros), undefined, await request())).rejects.toMatchObject({
      message: `Response too large: RESPONSE_SIZE_MAX_BYTES is ${RESPONSE_SIZE_MAX_BYTES}.`,
      extensions: { code: 'RESPONSE_TOO_LARGE' },
    });
    // Four bytes per emoji (two UTF-16 units each): the answer with 25 is 70 units, 120 bytes.
    await expect(source.parseBody(answer('😀'.repeat(25)), undefined, await request())).rejects.toMatchObject({ extensions: { code: 'RESPONSE_TOO_LARGE' } });
  });

  it('reads the same length in ASCII, and charges each request its own bytes', async () => {
    const { source, request } = setUp();
    const context = await request();
    expect(await source.parseBody(answer('e'.repeat(40)), undefined, context)).toEqual({ data: { name: 'e'.repeat(40) } });
    // 57 + 57 bytes: the second response of the same request passes the ceiling.
    await expect(source.parseBody(answer('e'.repeat(40)), undefined, context)).rejects.toMatchObject({ extensions: { code: 'RESPONSE_TOO_LARGE' } });
    expect(await source.parseBody(answer('e'.repeat(40)), undefined, await request())).toEqual({ data: { name: 'e'.repeat(40) } });
  });

  it('measures the response sent in bytes too', () => {
    const { edge } = setUp();
    expect(JSON.parse(edge.stringifyResult({ data: { name: 'e'.repeat(40) } }))).toEqual({ data: { name: 'e'.repeat(40) } });
    expect(JSON.parse(edge.stringifyResult({ data: { name: '€'.repeat(40) } })).errors[0].extensions.code).toBe('RESPONSE_TOO_LARGE');
  });
});
