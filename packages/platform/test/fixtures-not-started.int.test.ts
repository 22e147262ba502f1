// Proves what a subgraph started alone meets at the port of a service that is neither started nor
// faked: a closed port, so its call fails at once and auth's login answers SERVICE_UNAVAILABLE
// (never a developer's `npm start` listening on the service list's default port).
import { expect } from 'vitest';
import { errorCode, gql, uniqueEmail } from '@paygraph/testing';
import { subgraphTest } from '../src/fixtures';

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`;
const test = subgraphTest({ subgraphs: ['auth'] });

test('a service that is not started is unavailable, not reached elsewhere', async ({ urls }) => {
  const result = await gql(urls.auth!, LOGIN, { input: { email: uniqueEmail('nobody'), password: 'not the password' } });
  expect(errorCode(result)).toBe('SERVICE_UNAVAILABLE');
});
