// Proves the per-subgraph fixture chain (platform -> urls): only the named subgraphs start, and a
// fake stands in at the port of a service that is not started: auth's login asks the fake users
// service for the email (it answers "no such user") and refuses the login as it would for an
// unknown email, where a missing service would have made it unavailable instead.
import type { IncomingMessage, RequestListener } from 'node:http';
import { expect } from 'vitest';
import { errorCode, gql, uniqueEmail } from '@paygraph/testing';
import { subgraphTest } from '../src/fixtures';

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`;

const asked: string[] = [];
async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
const fakeUsers: RequestListener = (request, response) => {
  void bodyOf(request).then((body) => {
    asked.push(String((JSON.parse(body) as { query?: string }).query ?? ''));
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ data: { userByEmail: null } }));
  });
};

const test = subgraphTest({ subgraphs: ['auth'], fakes: { users: fakeUsers } });

test('starts only the named subgraphs', ({ urls }) => {
  expect(Object.keys(urls)).toEqual(['auth']);
});

test('serves a fake at the port of a service that is not started', async ({ urls }) => {
  const result = await gql(urls.auth!, LOGIN, { input: { email: uniqueEmail('nobody'), password: 'not the password' } });
  expect(errorCode(result)).toBe('UNAUTHENTICATED');
  expect(asked.some((query) => query.includes('userByEmail'))).toBe(true);
});
