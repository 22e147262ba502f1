// The deadline and the gateway's own synchronous work: the REQUEST_TIMEOUT_MS timer cannot fire
// while the gateway plans or merges, so a result that comes back after the deadline is checked
// when control returns. A late query ends REQUEST_TIMEOUT with no data; a late mutation is
// answered with its result, because its effects are committed and a timeout would make the client
// retry it (createOrder carries no idempotency key).
import { describe, expect, it } from 'vitest';
import { parse, type OperationDefinitionNode } from 'graphql';
import { loadLimitSettings } from '@paygraph/config';
import type { GatewayContext } from '../src/context';
import { createEdgeLimits } from '../src/limits';
import { createGatewayMetrics } from '../src/metrics';

const REQUEST_TIMEOUT_MS = 30;

/** Busy for longer than the deadline, as planning a huge operation is: no timer runs meanwhile. */
function busyFor(ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // synchronous work
  }
}

async function runLate(document: string) {
  const edge = createEdgeLimits({ ...loadLimitSettings({}), REQUEST_TIMEOUT_MS }, createGatewayMetrics());
  const result = { data: { done: true } };
  const gateway = {
    onSchemaLoadOrUpdate: () => () => {},
    stop: async () => {},
    load: async () => ({
      schema: undefined,
      executor: async () => {
        busyFor(REQUEST_TIMEOUT_MS * 3);
        return result;
      },
    }),
  };
  const { executor } = await edge.wrapGateway(gateway as never).load({} as never);
  const context = {} as GatewayContext;
  await edge.plugin.requestDidStart!({ contextValue: context } as never);
  const operation = parse(document).definitions[0] as OperationDefinitionNode;
  return { result, answer: executor({ context, operation } as never) };
}

describe('a result that comes back after REQUEST_TIMEOUT_MS', () => {
  it('ends a query with REQUEST_TIMEOUT and no data', async () => {
    const { answer } = await runLate('query { me { id } }');
    await expect(answer).rejects.toMatchObject({ extensions: { code: 'REQUEST_TIMEOUT' } });
  });

  it('answers a mutation with its result: its effects are committed', async () => {
    const { answer, result } = await runLate('mutation { createOrder(input: {}) { id } }');
    await expect(answer).resolves.toBe(result);
  });
});
