// Proves the documented gateway swap (README "Swapping the gateway"): Hive Gateway, started as
// its own process from deploy/hive-gateway/gateway.config.ts on schema/supergraph.graphql, in
// front of the platform's running subgraphs, carries queries and mutations end to end (sign-up,
// login, `me`, a funded wallet, an order with a federated buyer, its payment) because it forwards
// the caller's token and the gateway credential; the subgraphs' own checks still answer through it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { errorCode, freePort, gql, registerAndLogin, type TestUser } from '@paygraph/testing';

const root = path.resolve(import.meta.dirname, '../..');
const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });

let hive: ChildProcess;
let hiveUrl: string;
let output = '';

beforeAll(async () => {
  const port = await freePort();
  const subgraphUrls = inject('subgraphUrls');
  const { NODE_OPTIONS: _options, FORK: _fork, ...env } = process.env;
  hive = spawn(
    process.execPath,
    [path.join(root, 'node_modules/@graphql-hive/gateway/dist/bin.js'), 'supergraph', 'schema/supergraph.graphql', '-c', 'deploy/hive-gateway/gateway.config.ts', '--port', String(port), '--host', '127.0.0.1'],
    {
      cwd: root,
      env: {
        ...env,
        // SERVICE_SECRET comes from the test run (vitest.config.ts): the platform's secret.
        LOG_LEVEL: 'info',
        ...Object.fromEntries(Object.entries(subgraphUrls).map(([name, url]) => [`${name.toUpperCase()}_URL`, url])),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => hive.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Hive Gateway did not start in time:\n${output}`)), STARTUP_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      if (output.length < 100_000) output += chunk.toString();
      if (/Listening on/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    hive.stdout!.on('data', onData);
    hive.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`Hive Gateway exited:\n${output}`));
    });
  });
  hiveUrl = `http://127.0.0.1:${port}/graphql`;
});

afterAll(async () => {
  if (!hive || hive.exitCode !== null || hive.signalCode !== null) return;
  const exited = new Promise((resolve) => hive.once('exit', resolve));
  hive.kill('SIGINT');
  const timer = setTimeout(() => hive.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
});

describe('Hive Gateway in front of the platform (deploy/hive-gateway/gateway.config.ts)', () => {
  let buyer: TestUser;
  let merchant: TestUser;

  beforeAll(async () => {
    const urls = { register: hiveUrl, login: hiveUrl };
    merchant = await registerAndLogin(urls, 'MERCHANT', { name: 'Hive Corner Shop' });
    buyer = await registerAndLogin(urls, 'BUYER', { name: 'Ada Viahive' });
  });

  it('signs up and logs in through it, and answers me with the caller forwarded', async () => {
    const me = await gql(hiveUrl, '{ me { id name role } }', {}, buyer.accessToken);
    expect(me.errors).toBeUndefined();
    expect(me.data!.me).toEqual({ id: buyer.id, name: 'Ada Viahive', role: 'BUYER' });
  });

  it('runs money mutations through it: a wallet credit, an order with its federated buyer, its payment', async () => {
    const credited = await gql(hiveUrl, 'mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id balance { amount currency } } }', { input: { amount: usd('5000'), idempotencyKey: key() } }, buyer.accessToken);
    expect(credited.errors).toBeUndefined();
    expect(credited.data!.creditWallet.balance).toEqual(usd('5000'));

    const created = await gql(
      hiveUrl,
      'mutation($input: CreateOrderInput!) { createOrder(input: $input) { id status amount { amount currency } buyer { id name } merchant { id name } } }',
      { input: { merchantId: merchant.id, amount: usd('1200'), description: 'Honey via Hive' } },
      buyer.accessToken,
    );
    expect(created.errors).toBeUndefined();
    expect(created.data!.createOrder).toMatchObject({ status: 'PENDING', amount: usd('1200'), buyer: { id: buyer.id, name: 'Ada Viahive' }, merchant: { id: merchant.id, name: 'Hive Corner Shop' } });

    const paid = await gql(
      hiveUrl,
      'mutation($input: PayOrderInput!) { payOrder(input: $input) { status amount { amount } order { status } } }',
      { input: { orderId: created.data!.createOrder.id, idempotencyKey: key(), captureMethod: 'AUTOMATIC' } },
      buyer.accessToken,
    );
    expect(paid.errors).toBeUndefined();
    expect(paid.data!.payOrder).toEqual({ status: 'SUCCEEDED', amount: { amount: '1200' }, order: { status: 'PAID' } });
  });

  it('leaves the subgraphs checks in force: no token and a forged token are UNAUTHENTICATED', async () => {
    const query = 'query($id: ID!) { user(id: $id) { id name } }';
    const anonymous = await gql(hiveUrl, query, { id: buyer.id });
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
    expect(anonymous.data?.user ?? null).toBeNull();
    const forged = await gql(hiveUrl, query, { id: buyer.id }, `${buyer.accessToken.slice(0, -4)}AAAA`);
    expect(forged.data?.user ?? null).toBeNull();
    expect(errorCode(forged)).toBe('UNAUTHENTICATED');
  });
});
