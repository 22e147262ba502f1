// Proves that subgraphs trust only the gateway and services, on the platform `npm start` runs:
// called directly (as anything else on the network could), every subgraph answers 401 without
// the gateway's credential or a service token, with a user's token, with a forged credential, and
// for `_service` and `_entities` too; with the gateway's credential it answers; and the gateway
// itself keeps working.
import { expect, inject, it } from 'vitest';
import { GATEWAY_CREDENTIAL_HEADER, gatewayCredential, serviceCredential } from '@paygraph/identity';
import { gql, registerAndLogin } from '@paygraph/testing';
import { TEST_SERVICE_SECRET } from '../support/constants';

const gatewayUrl = inject('gatewayUrl');
const subgraphUrls = inject('subgraphUrls');

async function direct(url: string, query: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
  return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } };
}

it('refuses a direct call to every subgraph without the gateway credential or a service token, _service and _entities included', async () => {
  const user = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  const names = Object.keys(subgraphUrls);
  expect(names).toHaveLength(7);
  for (const name of names) {
    const url = subgraphUrls[name]!;
    for (const query of ['{ _service { sdl } }', '{ _entities(representations: [{ __typename: "User", id: "usr_x" }]) { __typename } }', '{ __typename }']) {
      const anonymous = await direct(url, query);
      expect(anonymous.status, `${name} ${query}`).toBe(401);
      expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify(anonymous.body)).not.toMatch(/sdl|type Query/);
      expect((await direct(url, query, { authorization: `Bearer ${user.accessToken}` })).status, `${name} with a user token`).toBe(401);
      expect((await direct(url, query, { [GATEWAY_CREDENTIAL_HEADER]: 'forged' })).status).toBe(401);
      // A credential for another service name, or from another secret, is not the gateway's.
      expect((await direct(url, query, { [GATEWAY_CREDENTIAL_HEADER]: serviceCredential(TEST_SERVICE_SECRET, 'payments') })).status).toBe(401);
      expect((await direct(url, query, { [GATEWAY_CREDENTIAL_HEADER]: gatewayCredential('another-secret-of-at-least-32-characters!') })).status).toBe(401);
    }
    const asGateway = await direct(url, '{ _service { sdl } }', { [GATEWAY_CREDENTIAL_HEADER]: gatewayCredential(TEST_SERVICE_SECRET) });
    expect(asGateway.status, name).toBe(200);
    expect(JSON.stringify(asGateway.body)).toMatch(/sdl/);
  }
});

it('still serves everything through the gateway', async () => {
  const user = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  const me = await gql(gatewayUrl, '{ me { id wallets { currency } } }', {}, user.accessToken, { [GATEWAY_CREDENTIAL_HEADER]: 'ignored by the gateway' });
  expect(me.data?.me?.id).toBe(user.id);
});
