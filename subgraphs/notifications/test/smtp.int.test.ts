// Proves EMAIL delivery over real SMTP: an smtp-server on 127.0.0.1 receives what the platform
// sends (SMTP_URL), with the recipient's address, the sender from SMTP_FROM and the notification's
// title as subject; a recipient the server refuses once is retried after the backoff and SENT; one
// it always refuses is tried DELIVERY_ATTEMPTS_MAX times, every attempt recorded, then FAILED.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { TEST_PASSWORD, loginAs, type TestUser } from '@paygraph/testing';
import { gql, notificationsOf, pay, register, startNotificationsPlatform, topUp, waitForNotifications, type NotificationsTestPlatform } from './support';

const ATTEMPTS_MAX = 3;
const FROM = 'Paygraph Test <notifications@paygraph.test>';

interface ReceivedMail {
  envelopeTo: string[];
  headers: Map<string, string>;
  text: string;
}

const received: ReceivedMail[] = [];
/** RCPT TO commands seen, per address (accepted or refused). */
const recipientsTried = new Map<string, number>();

/** Addresses starting `reject-` are always refused; `flaky-` ones are refused the first time only. */
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onRcptTo(address, _session, callback) {
    const tries = (recipientsTried.get(address.address) ?? 0) + 1;
    recipientsTried.set(address.address, tries);
    const refuse = address.address.startsWith('reject-') || (address.address.startsWith('flaky-') && tries === 1);
    if (!refuse) return callback();
    const error = new Error('Mailbox unavailable') as Error & { responseCode: number };
    error.responseCode = 550;
    callback(error);
  },
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const split = raw.indexOf('\r\n\r\n');
      const headers = new Map<string, string>();
      for (const line of raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
        const colon = line.indexOf(':');
        headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
      }
      received.push({ envelopeTo: session.envelope.rcptTo.map((entry) => entry.address), headers, text: raw.slice(split + 4) });
      callback();
    });
  },
});

let started: NotificationsTestPlatform;
let gatewayUrl: string;

beforeAll(async () => {
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const port = (smtp.server.address() as AddressInfo).port;
  started = await startNotificationsPlatform({
    SMTP_URL: `smtp://127.0.0.1:${port}`,
    SMTP_FROM: FROM,
    DELIVERY_ATTEMPTS_MAX: String(ATTEMPTS_MAX),
    DELIVERY_RETRY_BASE_MS: '100',
    DELIVERY_RETRY_MAX_MS: '1000',
  });
  gatewayUrl = started.gatewayUrl;
});

afterAll(async () => {
  await started?.stop();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

const mailTo = (address: string, subject: string) => received.filter((mail) => mail.envelopeTo.includes(address) && mail.headers.get('subject') === subject);

/** Registers a buyer under a chosen email address (the SMTP server's behaviour depends on it). */
async function registerWithEmail(localPart: string, name: string): Promise<TestUser> {
  const email = `${localPart}-${randomBytes(6).toString('hex')}@example.test`;
  const result = await gql(gatewayUrl, `mutation($input: RegisterUserInput!) { registerUser(input: $input) { id } }`, { input: { email, password: TEST_PASSWORD, name, role: 'BUYER' } });
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return loginAs(gatewayUrl, email, TEST_PASSWORD);
}

it('sends the welcome and a payment receipt to the recipient, from SMTP_FROM, titled as the notification', async () => {
  const buyer = await registerWithEmail('ada', 'Ada Mailer');
  const merchant = await register(gatewayUrl, 'MERCHANT', 'Mail Shop');
  const [welcome] = await vi.waitFor(
    () => {
      const mails = mailTo(buyer.email, 'Welcome to Paygraph, Ada Mailer');
      if (mails.length === 0) throw new Error('no welcome email yet');
      return mails;
    },
    { timeout: 15_000, interval: 50 },
  );
  expect(welcome!.headers.get('from')).toBe(FROM);
  expect(welcome!.headers.get('to')).toBe(`Ada Mailer <${buyer.email}>`);
  expect(welcome!.text).toContain('Your buyer account is ready.');

  await topUp(gatewayUrl, buyer, '5000');
  const payment = await pay(gatewayUrl, buyer, merchant, '1250');
  const [receipt] = await vi.waitFor(
    () => {
      const mails = mailTo(buyer.email, 'Payment of 12.50 USD succeeded');
      if (mails.length === 0) throw new Error('no receipt yet');
      return mails;
    },
    { timeout: 15_000, interval: 50 },
  );
  expect(receipt!.envelopeTo).toEqual([buyer.email]);
  // The merchant's name is quoted (safe messages); the line is long enough to be wrapped by quoted-printable after it.
  expect(receipt!.text).toContain('You paid 12.50 USD to the merchant "Mail Shop".');
  expect(receipt!.text.replace(/=\r?\n/g, '')).toContain(`Payment ${payment.id}.`);
  // Exactly one email per notification, and its notification says SENT after one attempt.
  const [email] = await waitForNotifications(gatewayUrl, buyer, (all) => all.filter((entry) => entry.channel === 'EMAIL' && entry.type === 'payment.succeeded' && entry.status === 'SENT'));
  expect(email!.deliveryAttempts).toBe(1);
  expect(mailTo(buyer.email, 'Payment of 12.50 USD succeeded')).toHaveLength(1);
});

it('retries a recipient the server refused once, after the backoff, and then sends', async () => {
  const buyer = await registerWithEmail('flaky', 'Flaky Mailbox');
  const [email] = await waitForNotifications(gatewayUrl, buyer, (all) => all.filter((entry) => entry.channel === 'EMAIL' && entry.type === 'user.registered' && entry.status === 'SENT'));
  expect(email!.deliveryAttempts).toBe(2);
  expect(recipientsTried.get(buyer.email)).toBe(2);
  expect(mailTo(buyer.email, 'Welcome to Paygraph, Flaky Mailbox')).toHaveLength(1);
});

it('gives up on a recipient the server always refuses: each attempt recorded with its error, then FAILED', async () => {
  const buyer = await registerWithEmail('reject', 'Refused Mailbox');
  const [email] = await waitForNotifications(gatewayUrl, buyer, (all) => all.filter((entry) => entry.channel === 'EMAIL' && entry.type === 'user.registered' && entry.status === 'FAILED'));
  expect(email!.deliveryAttempts).toBe(ATTEMPTS_MAX);
  expect(recipientsTried.get(buyer.email)).toBe(ATTEMPTS_MAX);
  expect(mailTo(buyer.email, 'Welcome to Paygraph, Refused Mailbox')).toEqual([]);
  const attempts = await started.database.query<{ number: number; succeeded: boolean; error: string; attempted_at: Date | string }>(
    `select a.number, a.succeeded, a.error, a.attempted_at from notifications.delivery_attempts a join notifications.deliveries d on d.id = a.delivery_id where d.notification_id = $1 order by a.number`,
    [email!.id],
  );
  expect(attempts.map((attempt) => [Number(attempt.number), attempt.succeeded])).toEqual([
    [1, false],
    [2, false],
    [3, false],
  ]);
  for (const attempt of attempts) expect(attempt.error).toMatch(/550/);
  // Backoff: 100 ms, then 200 ms.
  const times = attempts.map((attempt) => new Date(attempt.attempted_at).getTime());
  expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(90);
  expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(190);
  // The IN_APP welcome is unaffected.
  expect((await notificationsOf(gatewayUrl, buyer)).find((entry) => entry.channel === 'IN_APP' && entry.type === 'user.registered')!.status).toBe('SENT');
});
