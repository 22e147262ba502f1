// Proves which events notify whom and what they say (pure; names of other users quoted and defused, an email change told to the old address): payment and refund events to the
// buyer and/or merchant with amounts in major units per currency, the merchant's webhooks for
// every payment and refund event, a welcome on sign-up, nothing for orders, other sources or
// unreadable payloads; and which channels preferences add.
import { describe, expect, it } from 'vitest';
import { displayName, extraChannels, planEvent, DEFAULT_PREFERENCES } from '../src/domain/messages';

/** The status a payment has when payments announces it with this event type (as payments writes it). */
const statusOf = (type: string) => ({ 'payment.created': 'PENDING', 'payment.refunded': 'SUCCEEDED' })[type] ?? type.split('.')[1]!.toUpperCase();
const payment = (type: string, overrides: Record<string, unknown> = {}) => ({
  source: 'payments',
  type,
  aggregateVersion: 2,
  payload: { paymentId: 'pay_1', orderId: 'ord_1', buyerId: 'usr_buyer', merchantId: 'usr_shop', status: statusOf(type), previousStatus: 'PENDING', amount: '2500', currency: 'USD', amountCaptured: '2500', amountRefunded: '0', failureCode: null, ...overrides },
});
const names: Record<string, string> = { usr_buyer: 'Ada', usr_shop: 'Corner Shop' };
const compose = (event: Parameters<typeof planEvent>[0]) => planEvent(event)!.compose((id) => names[id] ?? null);
const recipientsOf = (event: Parameters<typeof planEvent>[0]) => compose(event).map((message) => message.userId);

describe('planEvent', () => {
  it.each([
    ['payment.created', []],
    ['payment.requires_review', ['usr_buyer', 'usr_shop']],
    ['payment.authorized', ['usr_shop']],
    ['payment.succeeded', ['usr_buyer', 'usr_shop']],
    ['payment.failed', ['usr_buyer']],
    ['payment.canceled', ['usr_buyer']],
    ['payment.refunded', []],
  ])('%s notifies %j and goes to the merchant\'s webhooks', (type, expected) => {
    expect(recipientsOf(payment(type))).toEqual(expected);
    expect(planEvent(payment(type))!.webhookMerchantId).toBe('usr_shop');
    expect(planEvent(payment(type))!.userIds).toEqual(['usr_buyer', 'usr_shop']);
  });

  it('writes amounts in major units with the currency\'s exponent, and names the other side', () => {
    expect(compose(payment('payment.succeeded'))).toEqual([
      { userId: 'usr_buyer', type: 'payment.succeeded', title: 'Payment of 25.00 USD succeeded', body: 'You paid 25.00 USD to the merchant "Corner Shop". Payment pay_1.' },
      { userId: 'usr_shop', type: 'payment.succeeded', title: 'You received 25.00 USD', body: 'The buyer "Ada" paid you 25.00 USD. Payment pay_1.' },
    ]);
    expect(compose(payment('payment.succeeded', { amount: '1500', amountCaptured: '1500', currency: 'JPY' }))[0]!.title).toBe('Payment of 1500 JPY succeeded');
    expect(compose(payment('payment.succeeded', { amount: '5', amountCaptured: '5', currency: 'KWD' }))[0]!.title).toBe('Payment of 0.005 KWD succeeded');
    // A partial capture says what was charged.
    expect(compose(payment('payment.succeeded', { amount: '4000', amountCaptured: '3000' }))[1]!.title).toBe('You received 30.00 USD');
  });

  it('falls back to neutral words when a name is unknown', () => {
    const messages = planEvent(payment('payment.succeeded'))!.compose(() => null);
    expect(messages[0]!.body).toBe('You paid 25.00 USD to the merchant. Payment pay_1.');
    expect(messages[1]!.body).toBe('A buyer paid you 25.00 USD. Payment pay_1.');
  });

  it('explains known failure codes and shows unknown ones', () => {
    expect(compose(payment('payment.failed', { failureCode: 'RISK_DECLINED' }))[0]!.body).toContain('declined by our risk checks');
    expect(compose(payment('payment.failed', { failureCode: 'INSUFFICIENT_FUNDS' }))[0]!.body).toContain('did not have enough available funds');
    expect(compose(payment('payment.failed', { failureCode: 'SOMETHING_NEW' }))[0]!.body).toContain('Reason: SOMETHING_NEW.');
  });

  it('notifies both sides of a refund', () => {
    const refund = { source: 'payments', type: 'refund.succeeded', aggregateVersion: 2, payload: { refundId: 'ref_1', paymentId: 'pay_1', orderId: 'ord_1', buyerId: 'usr_buyer', merchantId: 'usr_shop', amount: '999', currency: 'EUR' } };
    expect(compose(refund).map((message) => [message.userId, message.title])).toEqual([
      ['usr_buyer', 'Refund of 9.99 EUR'],
      ['usr_shop', 'You refunded 9.99 EUR'],
    ]);
    expect(planEvent(refund)!.webhookMerchantId).toBe('usr_shop');
  });

  it('welcomes a registered user and only records an updated one', () => {
    const registered = planEvent({ source: 'users', type: 'user.registered', aggregateVersion: 1, payload: { userId: 'usr_new', email: 'new@example.test', name: 'Newcomer', role: 'MERCHANT' } })!;
    expect(registered.recipient).toEqual({ userId: 'usr_new', email: 'new@example.test', name: 'Newcomer', role: 'MERCHANT', version: 1 });
    expect(registered.compose(() => null)).toEqual([expect.objectContaining({ userId: 'usr_new', title: 'Welcome to Paygraph, Newcomer', body: expect.stringContaining('merchant account') })]);
    expect(registered.webhookMerchantId).toBeNull();
    const updated = planEvent({ source: 'users', type: 'user.updated', aggregateVersion: 4, payload: { userId: 'usr_new', email: 'moved@example.test', name: 'Renamed', role: 'MERCHANT' } })!;
    expect(updated.recipient).toMatchObject({ email: 'moved@example.test', name: 'Renamed', version: 4 });
    expect(updated.compose(() => null)).toEqual([]);
  });

  it.each([
    ['an order event', { source: 'payments', type: 'order.paid', aggregateVersion: 2, payload: { orderId: 'ord_1' } }],
    ['another source', { source: 'ledger', type: 'payment.succeeded', aggregateVersion: 1, payload: payment('payment.succeeded').payload }],
    ['a payload without ids', payment('payment.succeeded', { buyerId: undefined })],
    ['an id that is not one', payment('payment.succeeded', { merchantId: 'usr shop; drop' })],
    ['a non-integer amount', payment('payment.succeeded', { amount: '25.00' })],
    ['an unknown currency', payment('payment.succeeded', { currency: 'XXX1' })],
    ['a payload that is not an object', { source: 'payments', type: 'payment.succeeded', aggregateVersion: 1, payload: 'oops' }],
    ['a user event without a name', { source: 'users', type: 'user.registered', aggregateVersion: 1, payload: { userId: 'usr_1', role: 'BUYER' } }],
  ])('asks nothing for %s', (_label, event) => {
    expect(planEvent(event)).toBeNull();
  });
});

describe('extraChannels', () => {
  it('adds EMAIL by default (to a known address only), SMS and PUSH when chosen', () => {
    expect(extraChannels(DEFAULT_PREFERENCES, 'a@example.test')).toEqual(['EMAIL']);
    expect(extraChannels(DEFAULT_PREFERENCES, null)).toEqual([]);
    expect(extraChannels({ email: false, sms: true, push: true }, 'a@example.test')).toEqual(['SMS', 'PUSH']);
    expect(extraChannels({ email: true, sms: true, push: false }, 'a@example.test')).toEqual(['EMAIL', 'SMS']);
  });
});

describe('names chosen by one user, shown to another', () => {
  it('are quoted, carry no link and no control or format characters', () => {
    expect(displayName('Corner Shop')).toBe('"Corner Shop"');
    const hostile = 'Paygraph Security: your wallet is frozen, verify at https://evil.example/login or www.evil.example, mail help@evil.example\u202e\u0007';
    const shown = displayName(hostile);
    expect(shown).toMatch(/^".*"$/);
    expect(shown).not.toMatch(/:\/\/|www\.|@|[a-z]\.[a-z]|[\u0000-\u001f\u202e]/i);
    expect(shown).toContain('https[:]//evil[.]example');
    expect(displayName('Say "hi"')).toBe(`"Say 'hi'"`);
  });

  it('defuse domains of any script and the dots a browser reads as dots (fullwidth, ideographic), and a fullwidth at sign', () => {
    expect(displayName('Verify at пример.рф')).toBe('"Verify at пример[.]рф"');
    expect(displayName('Shop ｅｖｉｌ．ｃｏｍ')).toBe('"Shop ｅｖｉｌ[.]ｃｏｍ"');
    expect(displayName('Shop evil。com and 例子｡中国')).toBe('"Shop evil[.]com and 例子[.]中国"');
    expect(displayName('Shop evil.xn--p1ai')).toBe('"Shop evil[.]xn--p1ai"');
    expect(displayName('help＠evil.example')).toBe('"help[at]evil[.]example"');
    expect(displayName('J. Smith & Co.')).toBe('"J. Smith & Co."');
  });

  it('a hostile merchant name appears quoted and defused in the buyer\'s receipt', () => {
    const plan = planEvent({ source: 'payments', type: 'payment.succeeded', aggregateVersion: 2, payload: { paymentId: 'pay_1', orderId: 'ord_1', buyerId: 'usr_buyer', merchantId: 'usr_shop', status: 'SUCCEEDED', amount: '2500', currency: 'USD', amountCaptured: '2500', failureCode: null } })!;
    const [toBuyer] = plan.compose((userId) => (userId === 'usr_shop' ? 'Verify at https://evil.example now' : 'Ada'));
    expect(toBuyer!.body).toBe('You paid 25.00 USD to the merchant "Verify at https[:]//evil[.]example now". Payment pay_1.');
  });
});

describe('an email change', () => {
  const changed = (payload: Record<string, unknown>) => planEvent({ source: 'users', type: 'user.updated', aggregateVersion: 3, payload: { userId: 'usr_1', email: 'new@example.com', name: 'Ada', role: 'BUYER', ...payload } })!;

  it('tells the OLD address, by email, that the address changed', () => {
    expect(changed({ previousEmail: 'old@example.com' }).compose(() => null)).toEqual([
      expect.objectContaining({ userId: 'usr_1', type: 'user.email_changed', emailTo: 'old@example.com', body: expect.not.stringContaining('new@example.com') }),
    ]);
  });

  it('says nothing for a change that kept the address', () => {
    expect(changed({}).compose(() => null)).toEqual([]);
    expect(changed({ previousEmail: 'new@example.com' }).compose(() => null)).toEqual([]);
  });
});
