// connection_init on the subscription socket: how the session refuses a connection, by close code.
// A token that cannot be checked now (auth's keys unreachable: SERVICE_UNAVAILABLE) is not a bad
// token: the socket closes 1013 (Try Again Later), which graphql-ws clients retry, never 4403,
// which they treat as final.
import { describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql';
import type { WebSocket } from 'ws';
import type { TokenVerifier } from '@paygraph/identity';
import { createSessions, UNAVAILABLE_CLOSE_CODE } from '../src/subscriptions/session';

function fakeSocket() {
  const closes: { code: number; reason: string }[] = [];
  return { closes, socket: { close: (code: number, reason: string) => closes.push({ code, reason }) } as unknown as WebSocket };
}

async function openWith(verifyToken: TokenVerifier, params: Record<string, unknown> = { authorization: 'Bearer some.token.here' }) {
  const { closes, socket } = fakeSocket();
  const session = await createSessions({ verifyToken }).open(params, socket);
  return { session, closes };
}

describe('subscription session: connection_init refusals', () => {
  it('closes 1013 with SERVICE_UNAVAILABLE when the token cannot be checked now', async () => {
    const { session, closes } = await openWith(async () => {
      throw new GraphQLError('auth keys unreachable', { extensions: { code: 'SERVICE_UNAVAILABLE' } });
    });
    expect(session).toBeNull();
    expect(closes).toHaveLength(1);
    expect(closes[0]!.code).toBe(UNAVAILABLE_CLOSE_CODE);
    expect(UNAVAILABLE_CLOSE_CODE).toBe(1013);
    expect(JSON.parse(closes[0]!.reason)).toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
    expect(Buffer.byteLength(closes[0]!.reason)).toBeLessThanOrEqual(123); // a close reason's limit
  });

  it('closes 4403 for a token that was checked and refused', async () => {
    const { session, closes } = await openWith(async () => {
      throw new GraphQLError('invalid token', { extensions: { code: 'UNAUTHENTICATED' } });
    });
    expect(session).toBeNull();
    expect(closes.map((close) => close.code)).toEqual([4403]);
  });

  it('closes 4401 without a token, and opens a session for a valid user token', async () => {
    expect((await openWith(async () => ({ kind: 'anonymous' }) as never, {})).closes.map((close) => close.code)).toEqual([4401]);
    const { session, closes } = await openWith(async () => ({ kind: 'user', id: 'usr_1', role: 'BUYER', scopes: [] }) as never);
    expect(closes).toEqual([]);
    expect(session?.viewer).toMatchObject({ kind: 'user', id: 'usr_1' });
  });
});
