// Proves wallets and the ledger end to end through the gateway started by `npm start`: top-up and
// withdrawal with idempotency keys and amount boundaries, balances read from the ledger, who may
// read or post what, cursor pagination, verification, and 100 concurrent withdrawals.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { errorCode, gql, loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';

const gatewayUrl = inject('gatewayUrl');
const subgraphUrls = inject('subgraphUrls');
const urls = { register: gatewayUrl, login: gatewayUrl };

const WALLET_FIELDS = 'id currency balance { amount currency } available { amount currency } owner { id }';
const CREDIT = `mutation Credit($input: CreditWalletInput!) { creditWallet(input: $input) { ${WALLET_FIELDS} } }`;
const DEBIT = `mutation Debit($input: DebitWalletInput!) { debitWallet(input: $input) { ${WALLET_FIELDS} } }`;
const WALLET = `query Wallet($currency: Currency!) { wallet(currency: $currency) { ${WALLET_FIELDS} } }`;
const ENTRIES = `query Entries($userId: ID!, $first: Int, $after: String) {
  ledgerEntries(userId: $userId, first: $first, after: $after) {
    edges { cursor node { id transactionId accountId direction amount { amount currency } createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const POST = `mutation Post($input: PostLedgerTransactionInput!) { postLedgerTransaction(input: $input) { id idempotencyKey sequence hash entries { accountId direction amount { amount currency } } } }`;
const VERIFY = `query Verify { verifyLedger { ok checkedTransactions mismatches } }`;

const key = () => `k-${randomBytes(6).toString('hex')}`;
const money = (amount: string, currency = 'USD') => ({ amount, currency });
const credit = (user: TestUser, amount: string, idempotencyKey = key(), currency = 'USD') =>
  gql(gatewayUrl, CREDIT, { input: { amount: money(amount, currency), idempotencyKey } }, user.accessToken);
const debit = (user: TestUser, amount: string, idempotencyKey = key(), currency = 'USD') =>
  gql(gatewayUrl, DEBIT, { input: { amount: money(amount, currency), idempotencyKey } }, user.accessToken);

let admin: TestUser;

beforeAll(async () => {
  admin = await loginAs(gatewayUrl, inject('adminEmail'), inject('adminPassword'));
});

describe('creditWallet and debitWallet', () => {
  it('creates the wallet on first top-up and reads its balance from the ledger', async () => {
    const user = await registerAndLogin(urls);
    expect((await gql(gatewayUrl, WALLET, { currency: 'USD' }, user.accessToken)).data).toEqual({ wallet: null });
    const topUp = await credit(user, '1999');
    expect(topUp.errors).toBeUndefined();
    expect(topUp.data!.creditWallet).toMatchObject({ currency: 'USD', balance: money('1999'), available: money('1999'), owner: { id: user.id } });
    const withdrawal = await debit(user, '999');
    expect(withdrawal.data!.debitWallet.balance).toEqual(money('1000'));
    const wallet = await gql(gatewayUrl, WALLET, { currency: 'USD' }, user.accessToken);
    expect(wallet.data!.wallet).toMatchObject({ id: topUp.data!.creditWallet.id, balance: money('1000') });
    const wallets = await gql(gatewayUrl, `{ me { wallets { currency balance { amount } } } }`, {}, user.accessToken);
    expect(wallets.data!.me.wallets).toEqual([{ currency: 'USD', balance: { amount: '1000' } }]);
  });

  it('keeps one wallet per currency', async () => {
    const user = await registerAndLogin(urls);
    await credit(user, '500', key(), 'JPY');
    await credit(user, '700', key(), 'EUR');
    await credit(user, '1', key(), 'JPY');
    const wallets = await gql(gatewayUrl, `{ me { wallets { currency balance { amount } } } }`, {}, user.accessToken);
    expect(wallets.data!.me.wallets).toEqual([
      { currency: 'EUR', balance: { amount: '700' } },
      { currency: 'JPY', balance: { amount: '501' } },
    ]);
  });

  it('accepts 1 and the maximum, rejects 0, the maximum + 1 and malformed amounts, changing nothing', async () => {
    const user = await registerAndLogin(urls);
    expect((await credit(user, '1')).data!.creditWallet.balance.amount).toBe('1');
    expect((await credit(user, '999999999999999')).data!.creditWallet.balance.amount).toBe('1000000000000000');
    for (const amount of ['0', '1000000000000000']) {
      const result = await credit(user, amount);
      expect(result.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.amount.amount' });
    }
    for (const amount of ['-1', '1.5', '1e3', '', '1000000000000000000']) {
      const result = await credit(user, amount);
      // Refused while the gateway coerces the variables: named by the path in them.
      expect(result.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.amount.amount' });
      expect(result.errors![0]!.message).toMatch(/Amount/);
    }
    expect((await credit(user, '10', key(), 'XXX')).errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.amount.currency' });
    const wallet = await gql(gatewayUrl, WALLET, { currency: 'USD' }, user.accessToken);
    expect(wallet.data!.wallet.balance.amount).toBe('1000000000000000');
  });

  it('replays a key with the same parameters and refuses it with different ones', async () => {
    const user = await registerAndLogin(urls);
    const idempotencyKey = key();
    const first = await credit(user, '300', idempotencyKey);
    const replay = await credit(user, '300', idempotencyKey);
    expect(replay.data!.creditWallet.balance).toEqual(money('300'));
    expect(replay.data!.creditWallet.id).toBe(first.data!.creditWallet.id);
    const reused = await credit(user, '301', idempotencyKey);
    expect(reused.errors![0]!.extensions).toEqual({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'input.idempotencyKey' });
    expect(errorCode(await debit(user, '300', idempotencyKey))).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await gql(gatewayUrl, WALLET, { currency: 'USD' }, user.accessToken)).data!.wallet.balance).toEqual(money('300'));
    // Keys are per user: another user may use the same one.
    const other = await registerAndLogin(urls);
    expect((await credit(other, '5', idempotencyKey)).data!.creditWallet.balance).toEqual(money('5'));
  });

  it('withdraws exactly what is available and refuses one unit more with INSUFFICIENT_FUNDS', async () => {
    const user = await registerAndLogin(urls);
    await credit(user, '500');
    expect(errorCode(await debit(user, '501'))).toBe('INSUFFICIENT_FUNDS');
    expect((await debit(user, '500')).data!.debitWallet.balance).toEqual(money('0'));
    expect(errorCode(await debit(user, '1'))).toBe('INSUFFICIENT_FUNDS');
    expect(errorCode(await debit(user, '1', key(), 'EUR'))).toBe('INSUFFICIENT_FUNDS');
    // The refusal opened no EUR wallet.
    const wallets = await gql(gatewayUrl, `{ me { wallets { currency balance { amount } } } }`, {}, user.accessToken);
    expect(wallets.data!.me.wallets).toEqual([{ currency: 'USD', balance: { amount: '0' } }]);
    expect((await gql(gatewayUrl, WALLET, { currency: 'EUR' }, user.accessToken)).data).toEqual({ wallet: null });
  });

  it('leaves the key of a refused withdrawal unused: the same request succeeds once funded, then replays', async () => {
    const user = await registerAndLogin(urls);
    await credit(user, '100');
    const idempotencyKey = key();
    expect(errorCode(await debit(user, '150', idempotencyKey))).toBe('INSUFFICIENT_FUNDS');
    expect(errorCode(await debit(user, '150', idempotencyKey))).toBe('INSUFFICIENT_FUNDS');
    expect((await gql(gatewayUrl, WALLET, { currency: 'USD' }, user.accessToken)).data!.wallet.balance).toEqual(money('100'));
    await credit(user, '100');
    const paid = await debit(user, '150', idempotencyKey);
    expect(paid.errors).toBeUndefined();
    expect(paid.data!.debitWallet.balance).toEqual(money('50'));
    const replay = await debit(user, '150', idempotencyKey);
    expect(replay.data!.debitWallet.balance).toEqual(money('50'));
    expect(errorCode(await debit(user, '10', idempotencyKey))).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('needs a login and keeps wallets private', async () => {
    const user = await registerAndLogin(urls);
    await credit(user, '100');
    expect(errorCode(await gql(gatewayUrl, CREDIT, { input: { amount: money('1'), idempotencyKey: key() } }))).toBe('UNAUTHENTICATED');
    const stranger = await registerAndLogin(urls);
    const peek = await gql(gatewayUrl, `query($id: ID!) { user(id: $id) { name wallets { id } } }`, { id: user.id }, stranger.accessToken);
    expect(errorCode(peek)).toBe('FORBIDDEN');
    const asAdmin = await gql(gatewayUrl, `query($id: ID!) { user(id: $id) { wallets { balance { amount } } } }`, { id: user.id }, admin.accessToken);
    expect(asAdmin.data!.user.wallets).toEqual([{ balance: { amount: '100' } }]);
  });

  it('gives exactly 50 of 100 concurrent withdrawals of 10 from 500, leaving 0', async () => {
    const user = await registerAndLogin(urls);
    await credit(user, '500');
    const results = await Promise.all(Array.from({ length: 100 }, () => debit(user, '10')));
    expect(results.filter((result) => !result.errors)).toHaveLength(50);
    expect(results.filter((result) => errorCode(result) === 'INSUFFICIENT_FUNDS')).toHaveLength(50);
    expect((await gql(gatewayUrl, WALLET, { currency: 'USD' }, user.accessToken)).data!.wallet.balance).toEqual(money('0'));
  });

  it('applies 50 concurrent top-ups with one key once', async () => {
    const user = await registerAndLogin(urls);
    const idempotencyKey = key();
    const results = await Promise.all(Array.from({ length: 50 }, () => credit(user, '25', idempotencyKey)));
    expect(results.every((result) => !result.errors)).toBe(true);
    expect((await gql(gatewayUrl, WALLET, { currency: 'USD' }, user.accessToken)).data!.wallet.balance).toEqual(money('25'));
  });
});

describe('ledger', () => {
  it('lists the viewer’s entries newest first with cursor pagination', async () => {
    const user = await registerAndLogin(urls);
    await credit(user, '100');
    await credit(user, '200');
    await debit(user, '50');
    const first = await gql(gatewayUrl, ENTRIES, { userId: user.id, first: 2 }, user.accessToken);
    const page = first.data!.ledgerEntries;
    expect(page.edges.map((edge: { node: { direction: string; amount: { amount: string } } }) => [edge.node.direction, edge.node.amount.amount])).toEqual([
      ['DEBIT', '50'],
      ['CREDIT', '200'],
    ]);
    expect(page.pageInfo.hasNextPage).toBe(true);
    const second = await gql(gatewayUrl, ENTRIES, { userId: user.id, first: 2, after: page.pageInfo.endCursor }, user.accessToken);
    expect(second.data!.ledgerEntries.edges.map((edge: { node: { amount: { amount: string } } }) => edge.node.amount.amount)).toEqual(['100']);
    expect(second.data!.ledgerEntries.pageInfo).toEqual({ hasNextPage: false, endCursor: second.data!.ledgerEntries.edges[0].cursor });
    expect(errorCode(await gql(gatewayUrl, ENTRIES, { userId: user.id, first: 101 }, user.accessToken))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(gatewayUrl, ENTRIES, { userId: user.id, after: 'garbage' }, user.accessToken))).toBe('BAD_USER_INPUT');
    // Another list's cursor is refused by name (it paged from wherever its position fell here).
    // The sign-up notification's cursor, once it is there.
    const foreign = await vi.waitFor(async () => {
      const cursor = (await gql(gatewayUrl, `{ notifications(first: 1) { pageInfo { endCursor } } }`, {}, user.accessToken)).data!.notifications.pageInfo.endCursor;
      expect(cursor).toEqual(expect.any(String));
      return cursor as string;
    }, { timeout: 10_000 });
    const refused = await gql(gatewayUrl, ENTRIES, { userId: user.id, after: foreign }, user.accessToken);
    expect(refused.errors![0]).toMatchObject({ message: 'after is a cursor from notifications, not from ledgerEntries', extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
    // A cursor before the first position (a hand-made "v1:0") is an empty page, not the first page again.
    const beforeFirst = await gql(gatewayUrl, ENTRIES, { userId: user.id, after: Buffer.from('v1:0').toString('base64url') }, user.accessToken);
    expect(beforeFirst.data!.ledgerEntries).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it('filters entries by time', async () => {
    const user = await registerAndLogin(urls);
    await credit(user, '100');
    const future = new Date(Date.now() + 60_000).toISOString();
    const query = `query($userId: ID!, $start: DateTime) { ledgerEntries(userId: $userId, start: $start) { edges { node { id } } } }`;
    expect((await gql(gatewayUrl, query, { userId: user.id, start: future }, user.accessToken)).data!.ledgerEntries.edges).toEqual([]);
    expect((await gql(gatewayUrl, query, { userId: user.id, start: '2020-01-01T00:00:00Z' }, user.accessToken)).data!.ledgerEntries.edges).toHaveLength(1);
  });

  it("refuses another user's ledger with FORBIDDEN; an admin may read it", async () => {
    const user = await registerAndLogin(urls);
    const stranger = await registerAndLogin(urls);
    await credit(user, '100');
    expect(errorCode(await gql(gatewayUrl, ENTRIES, { userId: user.id }, stranger.accessToken))).toBe('FORBIDDEN');
    expect((await gql(gatewayUrl, ENTRIES, { userId: user.id }, admin.accessToken)).data!.ledgerEntries.edges).toHaveLength(1);
  });

  it('lets an admin post a balanced transaction, replays it by key, refuses unbalanced or overdrawing ones', async () => {
    const payer = await registerAndLogin(urls);
    const payee = await registerAndLogin(urls);
    const from = (await credit(payer, '1000')).data!.creditWallet.id;
    const to = (await credit(payee, '1')).data!.creditWallet.id;
    const entries = (amount: string, creditAmount = amount) => [
      { accountId: from, direction: 'DEBIT', amount: money(amount) },
      { accountId: to, direction: 'CREDIT', amount: money(creditAmount) },
    ];
    const idempotencyKey = key();
    const posted = await gql(gatewayUrl, POST, { input: { idempotencyKey, description: 'adjustment', entries: entries('400') } }, admin.accessToken);
    expect(posted.errors).toBeUndefined();
    expect(posted.data!.postLedgerTransaction).toMatchObject({ idempotencyKey, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const replay = await gql(gatewayUrl, POST, { input: { idempotencyKey, description: 'adjustment', entries: entries('400') } }, admin.accessToken);
    expect(replay.data!.postLedgerTransaction.id).toBe(posted.data!.postLedgerTransaction.id);
    // The same entries in another order are the same content: a replay (it was IDEMPOTENCY_KEY_REUSED).
    const reordered = await gql(gatewayUrl, POST, { input: { idempotencyKey, description: 'adjustment', entries: entries('400').reverse() } }, admin.accessToken);
    expect(reordered.errors).toBeUndefined();
    expect(reordered.data!.postLedgerTransaction.id).toBe(posted.data!.postLedgerTransaction.id);
    expect(errorCode(await gql(gatewayUrl, POST, { input: { idempotencyKey, description: 'adjustment', entries: entries('401') } }, admin.accessToken))).toBe('IDEMPOTENCY_KEY_REUSED');
    const unbalanced = await gql(gatewayUrl, POST, { input: { idempotencyKey: key(), entries: entries('10', '9') } }, admin.accessToken);
    expect(unbalanced.errors![0]).toMatchObject({ message: expect.stringMatching(/differ by 1 in USD/), extensions: { code: 'BAD_USER_INPUT', field: 'input.entries' } });
    expect(errorCode(await gql(gatewayUrl, POST, { input: { idempotencyKey: key(), entries: entries('601') } }, admin.accessToken))).toBe('INSUFFICIENT_FUNDS');
    // The services' key namespaces are not an admin's: such a posting would pass for a payment's capture, a refund or a top-up.
    for (const reserved of ['payment:pay_x:capture', 'refund:ref_x', `wallet:${payer.id}:topup-1`]) {
      const taken = await gql(gatewayUrl, POST, { input: { idempotencyKey: reserved, entries: entries('1') } }, admin.accessToken);
      expect(taken.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.idempotencyKey' });
    }
    expect(errorCode(await gql(gatewayUrl, POST, { input: { idempotencyKey: key(), entries: [{ accountId: 'acc_nope', direction: 'DEBIT', amount: money('1') }, { accountId: to, direction: 'CREDIT', amount: money('1') }] } }, admin.accessToken))).toBe('NOT_FOUND');
    expect((await gql(gatewayUrl, WALLET, { currency: 'USD' }, payee.accessToken)).data!.wallet.balance).toEqual(money('401'));
  });

  it('refuses a buyer posting a ledger transaction with FORBIDDEN', async () => {
    const buyer = await registerAndLogin(urls);
    const wallet = (await credit(buyer, '10')).data!.creditWallet.id;
    const result = await gql(gatewayUrl, POST, {
      input: { idempotencyKey: key(), entries: [{ accountId: wallet, direction: 'CREDIT', amount: money('5') }, { accountId: wallet, direction: 'DEBIT', amount: money('5') }] },
    }, buyer.accessToken);
    expect(errorCode(result)).toBe('FORBIDDEN');
  });

  it('keeps internal ledger operations out of the public API and away from users', async () => {
    const buyer = await registerAndLogin(urls);
    const viaGateway = await gql(gatewayUrl, `mutation { systemAccount(currency: "USD") { id } }`, {}, buyer.accessToken);
    expect(errorCode(viaGateway)).toBe('GRAPHQL_VALIDATION_FAILED');
    const direct = await gql(subgraphUrls.ledger!, `mutation { systemAccount(currency: "USD") { id } }`, {}, buyer.accessToken);
    expect(errorCode(direct)).toBe('FORBIDDEN');
  });

  it('verifies: debits equal credits, balances equal entries, the hash chain holds (admin only)', async () => {
    const buyer = await registerAndLogin(urls);
    expect(errorCode(await gql(gatewayUrl, VERIFY, {}, buyer.accessToken))).toBe('FORBIDDEN');
    const verification = await gql(gatewayUrl, VERIFY, {}, admin.accessToken);
    expect(verification.data!.verifyLedger.mismatches).toEqual([]);
    expect(verification.data!.verifyLedger.ok).toBe(true);
    expect(verification.data!.verifyLedger.checkedTransactions).toBeGreaterThan(0);
  });
});
