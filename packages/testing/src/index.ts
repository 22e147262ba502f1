/**
 * Test client helpers: a GraphQL client over real HTTP and unique test identities. This package
 * imports nothing above the shared packages: tests that start the platform import
 * @paygraph/platform.
 */
import { randomBytes } from 'node:crypto';
import { GATEWAY_CREDENTIAL_HEADER, gatewayCredential } from '@paygraph/identity';

export { freePort } from './ports';

export interface GraphQLResponse<TData = Record<string, any>> {
  status: number;
  headers: Headers;
  data?: TData | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, any> }[];
}

/**
 * Subgraphs answer only the gateway and services: a test that calls a subgraph directly does so
 * as the gateway would, with the credential derived from the test run's SERVICE_SECRET (the
 * gateway ignores the header). A test of the refusal itself sends its request without it.
 */
function gatewayHeaders(): Record<string, string> {
  const secret = process.env.SERVICE_SECRET;
  return secret ? { [GATEWAY_CREDENTIAL_HEADER]: gatewayCredential(secret) } : {};
}

export async function gql<TData = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  extraHeaders: Record<string, string> = {},
): Promise<GraphQLResponse<TData>> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...gatewayHeaders(), ...extraHeaders };
  if (token) headers.authorization = token.startsWith('Bearer ') ? token : `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const text = await response.text();
  let body: { data?: TData | null; errors?: GraphQLResponse['errors'] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status} with a non-JSON body: ${text.slice(0, 200)}`);
  }
  return { status: response.status, headers: response.headers, ...body };
}

/** The first error's code, for assertions. */
export const errorCode = (response: GraphQLResponse) => response.errors?.[0]?.extensions?.code;

export function uniqueEmail(label = 'user'): string {
  return `${label}-${randomBytes(6).toString('hex')}@example.test`;
}

export const TEST_PASSWORD = 'correct horse battery staple';

export interface TestUser {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

const REGISTER = `mutation Register($input: RegisterUserInput!) { registerUser(input: $input) { id } }`;
const LOGIN = `mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id } } }`;

/** Logs an existing user in (e.g. the first admin). */
export async function loginAs(url: string, email: string, password: string): Promise<TestUser> {
  const loggedIn = await gql(url, LOGIN, { input: { email, password } });
  if (loggedIn.errors) throw new Error(`login failed: ${JSON.stringify(loggedIn.errors)}`);
  const session = loggedIn.data!.login;
  return { id: session.user.id, email, password, accessToken: session.accessToken, refreshToken: session.refreshToken };
}

/**
 * Registers a user and logs in. `urls.register` is where registerUser is served (gateway or users
 * subgraph) and `urls.login` where login is (gateway or auth subgraph).
 */
export async function registerAndLogin(
  urls: { register: string; login: string },
  role: 'BUYER' | 'MERCHANT' | 'ADMIN' = 'BUYER',
  options: { adminToken?: string; name?: string } = {},
): Promise<TestUser> {
  const email = uniqueEmail(role.toLowerCase());
  const registered = await gql(urls.register, REGISTER, { input: { email, password: TEST_PASSWORD, name: options.name ?? `Test ${role}`, role } }, options.adminToken);
  if (registered.errors) throw new Error(`registerUser failed: ${JSON.stringify(registered.errors)}`);
  return loginAs(urls.login, email, TEST_PASSWORD);
}
