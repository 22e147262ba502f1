// Proves the users subgraph's contract on a real database, called directly over HTTP (no gateway):
// registration rules, who may update and read whom, email visibility, and that without a valid
// token nothing that needs a login is given.
import { describe, expect, it } from 'vitest';
import { SignJWT, generateKeyPair } from 'jose';
import { TEST_PASSWORD, errorCode, gql, loginAs, registerAndLogin, uniqueEmail, type TestUser } from '@paygraph/testing';
import { subgraphTest } from '@paygraph/platform/fixtures';

const REGISTER = `mutation($input: RegisterUserInput!) { registerUser(input: $input) { id name role createdAt } }`;
const UPDATE = `mutation($input: UpdateUserInput!) { updateUser(input: $input) { id name email } }`;
const USER = `query($id: ID!) { user(id: $id) { id name role email } }`;
const ME = `{ me { id email name role } }`;

const adminEmail = uniqueEmail('admin');
// users and auth, the service it registers credentials with (the real one: the tests are about both).
const test = subgraphTest({ subgraphs: ['users', 'auth'], env: { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: TEST_PASSWORD } });
let usersUrl: string;
let urls: { register: string; login: string };
let admin: TestUser;
let buyer: TestUser;
let otherBuyer: TestUser;

test.beforeAll(async ({ identity }) => {
  usersUrl = identity.register;
  urls = identity;
  admin = await loginAs(urls.login, adminEmail, TEST_PASSWORD);
  [buyer, otherBuyer] = await Promise.all([registerAndLogin(urls), registerAndLogin(urls)]);
});

const register = (input: Record<string, unknown>, token?: string) =>
  gql(usersUrl, REGISTER, { input: { email: uniqueEmail(), password: TEST_PASSWORD, name: 'Somebody', role: 'BUYER', ...input } }, token);

describe('registerUser', () => {
  it('creates a user with a prefixed id and normalizes the email', async () => {
    const email = uniqueEmail('Mixed.Case').replace('example', 'EXAMPLE');
    const result = await register({ email: `  ${email}  `, name: '  Ada  ', role: 'MERCHANT' });
    expect(result.errors).toBeUndefined();
    expect(result.data!.registerUser).toMatchObject({ name: 'Ada', role: 'MERCHANT' });
    expect(result.data!.registerUser.id).toMatch(/^usr_[0-9a-z]{20}$/);
    const login = await gql(urls.login, `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { email: email.toLowerCase(), password: TEST_PASSWORD } });
    const me = await gql(usersUrl, ME, {}, login.data!.login.accessToken);
    expect(me.data!.me.email).toBe(email.toLowerCase());
  });

  it('rejects a duplicate email, whatever its case', async () => {
    const email = uniqueEmail();
    expect((await register({ email })).errors).toBeUndefined();
    const again = await register({ email: email.toUpperCase() });
    expect(errorCode(again)).toBe('BAD_USER_INPUT');
    expect(again.errors![0]!.extensions!.field).toBe('input.email');
  });

  it.each(['not-an-email', 'a@b', '@example.com', 'a b@example.com', `${'x'.repeat(250)}@example.com`, '', 'us\u200ber@example.com', 'user@exam\u202eple.com', 'us\u00ader@example.com'])('rejects the email %j', async (email) => {
    const result = await register({ email });
    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.extensions!.field).toBe('input.email');
  });

  it('accepts a 100-character name and rejects 101, blank and control characters', async () => {
    expect((await register({ name: 'n'.repeat(100) })).errors).toBeUndefined();
    for (const name of ['n'.repeat(101), '   ', 'bad\u0007name']) {
      const result = await register({ name });
      expect(errorCode(result)).toBe('BAD_USER_INPUT');
      expect(result.errors![0]!.extensions!.field).toBe('input.name');
    }
  });

  it('enforces the password policy in auth and leaves no user behind when it fails', async () => {
    const email = uniqueEmail();
    const short = await register({ email, password: 'seven77' });
    expect(errorCode(short)).toBe('BAD_USER_INPUT');
    expect(short.errors![0]!.extensions!.field).toBe('input.password');
    expect(errorCode(await register({ email, password: 'p'.repeat(129) }))).toBe('BAD_USER_INPUT');
    expect((await register({ email, password: 'eight888' })).errors).toBeUndefined();
  });

  it('lets only an admin create an ADMIN', async () => {
    expect(errorCode(await register({ role: 'ADMIN' }))).toBe('FORBIDDEN');
    expect(errorCode(await register({ role: 'ADMIN' }, buyer.accessToken))).toBe('FORBIDDEN');
    const created = await register({ role: 'ADMIN' }, admin.accessToken);
    expect(created.data!.registerUser.role).toBe('ADMIN');
  });
});

describe('reading users', () => {
  it('me is null for anonymous callers and the viewer otherwise', async () => {
    expect((await gql(usersUrl, ME)).data).toEqual({ me: null });
    expect((await gql(usersUrl, ME, {}, buyer.accessToken)).data!.me).toMatchObject({ id: buyer.id, email: buyer.email, role: 'BUYER' });
  });

  it('user(id) needs a login; others see name and role but not the email; admins see it', async () => {
    expect(errorCode(await gql(usersUrl, USER, { id: buyer.id }))).toBe('UNAUTHENTICATED');
    const asOther = await gql(usersUrl, USER, { id: buyer.id }, otherBuyer.accessToken);
    expect(asOther.data!.user).toEqual({ id: buyer.id, name: 'Test BUYER', role: 'BUYER', email: null });
    const asAdmin = await gql(usersUrl, USER, { id: buyer.id }, admin.accessToken);
    expect(asAdmin.data!.user.email).toBe(buyer.email);
    expect((await gql(usersUrl, USER, { id: 'usr_missing' }, buyer.accessToken)).data).toEqual({ user: null });
  });

  it('resolves User entities for the gateway only with a valid token', async () => {
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }`;
    const representations = [{ __typename: 'User', id: buyer.id }, { __typename: 'User', id: otherBuyer.id }];
    const anonymous = await gql(usersUrl, query, { r: representations });
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
    const signedIn = await gql(usersUrl, query, { r: representations }, buyer.accessToken);
    expect(signedIn.data!._entities.map((user: { id: string }) => user.id)).toEqual([buyer.id, otherBuyer.id]);
  });

  it('keeps the internal userByEmail for services only', async () => {
    const query = `query($email: String!) { userByEmail(email: $email) { id } }`;
    expect(errorCode(await gql(usersUrl, query, { email: buyer.email }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(usersUrl, query, { email: buyer.email }, admin.accessToken))).toBe('FORBIDDEN');
  });

  it('refuses a token signed by anyone but auth, with HTTP 401', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT({ token_use: 'access', role: 'ADMIN' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'forged' })
      .setSubject(buyer.id)
      .setIssuer('paygraph-auth')
      .setAudience('paygraph')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const result = await gql(usersUrl, USER, { id: buyer.id }, forged);
    expect(result.status).toBe(401);
    expect(errorCode(result)).toBe('UNAUTHENTICATED');
    expect(result.data ?? null).toBeNull();
  });
});

describe('updateUser', () => {
  it('updates the viewer by default', async () => {
    const user = await registerAndLogin(urls);
    const result = await gql(usersUrl, UPDATE, { input: { name: 'Renamed' } }, user.accessToken);
    expect(result.data!.updateUser).toMatchObject({ id: user.id, name: 'Renamed', email: user.email });
  });

  it('forbids a buyer from updating someone else, allows an admin', async () => {
    const target = await registerAndLogin(urls);
    expect(errorCode(await gql(usersUrl, UPDATE, { input: { id: target.id, name: 'Hacked' } }, buyer.accessToken))).toBe('FORBIDDEN');
    const byAdmin = await gql(usersUrl, UPDATE, { input: { id: target.id, name: 'Fixed by admin' } }, admin.accessToken);
    expect(byAdmin.data!.updateUser.name).toBe('Fixed by admin');
    const check = await gql(usersUrl, USER, { id: target.id }, target.accessToken);
    expect(check.data!.user.name).toBe('Fixed by admin');
  });

  it('needs a login, rejects a taken email and reports a missing user', async () => {
    expect(errorCode(await gql(usersUrl, UPDATE, { input: { name: 'x' } }))).toBe('UNAUTHENTICATED');
    const user = await registerAndLogin(urls);
    const taken = await gql(usersUrl, UPDATE, { input: { email: otherBuyer.email.toUpperCase() } }, user.accessToken);
    expect(errorCode(taken)).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(usersUrl, UPDATE, { input: { id: 'usr_nobody', name: 'x' } }, admin.accessToken))).toBe('NOT_FOUND');
    // An address with an invisible character is not taken as a new address either.
    const invisible = await gql(usersUrl, UPDATE, { input: { id: user.id, email: 'us\u200ber@example.com' } }, admin.accessToken);
    expect(invisible.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.email' });
  });
});
