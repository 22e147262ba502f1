/**
 * Which events notify whom, and what they say. Pure: no I/O.
 *
 * | event (source) | buyer | merchant | webhook of the merchant |
 * |---|---|---|---|
 * | `payment.created` (payments) | - | - | yes |
 * | `payment.requires_review` | "under review" | "held for review" (decided by Paygraph) | yes |
 * | `payment.authorized` (manual capture) | - | "ready to capture" | yes |
 * | `payment.succeeded` | "payment succeeded" | "you received" | yes |
 * | `payment.failed` | "payment failed" with the reason | - | yes |
 * | `payment.canceled` | "payment canceled, funds released" | - | yes |
 * | `payment.refunded` (the payment's side of a refund) | - (see refund.succeeded) | - | yes |
 * | `refund.succeeded` | "refund received" | "you refunded" | yes |
 * | `order.*` | - | - | - |
 * | `user.registered` (users) | welcome (to the new user, whatever the role) | | |
 * | `user.updated` (users) | refreshes the recipient's email and name; with `previousEmail`, "your email was changed" to the OLD address (always emailed) | | |
 *
 * Names chosen by one user and shown to another (a merchant's name in a buyer's receipt) are
 * quoted and defused (`displayName`): control and format characters removed, and nothing a mail
 * client would turn into a link (`://`, `www.`, domain names, email addresses) left intact, so a
 * merchant named "Paygraph Security: verify at https://..." cannot speak with the platform's voice.
 *
 * Each notified user gets one IN_APP notification, plus EMAIL, SMS and PUSH as their preferences
 * say (defaults below). Amounts are shown in major units with the currency (`25.00 USD`).
 */
import { formatMoney } from '@paygraph/money';
import { parsePaymentFacts, parseRefundFacts, type DomainEvent, type FailureCode, type PaymentFacts, type RefundFacts } from '@paygraph/events';

/** A user who has never chosen: email on (receipts matter), sms and push off (opt-in). */
export const DEFAULT_PREFERENCES = { email: true, sms: false, push: false } as const;

export interface Preferences {
  email: boolean;
  sms: boolean;
  push: boolean;
}

/** What the users service told us about a user (event or lookup). */
export interface RecipientFacts {
  userId: string;
  email: string | null;
  name: string;
  role: string;
}

export interface PlannedNotification {
  userId: string;
  type: string;
  title: string;
  body: string;
  /**
   * Also EMAIL this address whatever the preferences (a security notice to an address the user no
   * longer has on file: the old one, after an email change). Only that email, besides IN_APP.
   */
  emailTo?: string;
}

/** Longest name shown in a message. */
export const DISPLAY_NAME_LENGTH_MAX = 100;
const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

/**
 * A name as our messages show it: control and format characters (bidi overrides, zero-width)
 * removed, links defused (`https://x` -> `https[:]//x`, `www.x` -> `www[.]x`, `evil.com` ->
 * `evil[.]com`, `a@b.c` -> `a[at]b[.]c`), bounded, and in quotes so it reads as a name, not as
 * our words. Pure.
 */
export function displayName(raw: string): string {
  return `"${defusedName(raw).replace(/"/g, "'")}"`;
}

/** `displayName` without the quotes, for a user's own name in their own messages. */
export function defusedName(raw: string): string {
  return raw
    .replace(CONTROL_OR_FORMAT, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, DISPLAY_NAME_LENGTH_MAX)
    .replace(/:\/\//g, '[:]//')
    .replace(/[@\uff20]/g, '[at]')
    // Any script's letters and the dots a browser reads as one (fullwidth, ideographic).
    .replace(/([\p{L}\p{N}-])[.\uff0e\u3002\uff61](?=[\p{L}\p{N}-])/gu, '$1[.]');
}

/** What one event asks of this service. */
export interface EventPlan {
  /** Users whose name or email the messages need (looked up before applying). */
  userIds: string[];
  /** A user event's facts, to store with the event's aggregate version. */
  recipient: (RecipientFacts & { version: number }) | null;
  /** The merchant whose webhook endpoints receive this event, if any. */
  webhookMerchantId: string | null;
  /** The messages, given the names known for `userIds`. */
  compose(nameOf: (userId: string) => string | null): PlannedNotification[];
}

// Payment and refund payloads are read with the event contract (packages/events contracts/payments.ts).
const ID = /^[A-Za-z0-9_-]{1,64}$/;

type Fields = Record<string, unknown>;

const asRecord = (value: unknown): Fields | null => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : null);
const id = (fields: Fields, name: string): string | null => (typeof fields[name] === 'string' && ID.test(fields[name]) ? fields[name] : null);

function recipientPayload(value: unknown): RecipientFacts | null {
  const fields = asRecord(value);
  if (!fields) return null;
  const userId = id(fields, 'userId');
  if (!userId || typeof fields.name !== 'string' || typeof fields.role !== 'string') return null;
  const email = typeof fields.email === 'string' && fields.email.length <= 254 ? fields.email : null;
  return { userId, email, name: fields.name.slice(0, 100), role: fields.role };
}

/** `previousEmail` of a user.updated event that replaced the address, else null. */
function previousEmailOf(value: unknown, current: string | null): string | null {
  const fields = asRecord(value);
  const previous = fields && typeof fields.previousEmail === 'string' && fields.previousEmail.length <= 254 && fields.previousEmail.includes('@') ? fields.previousEmail : null;
  return previous && previous !== current ? previous : null;
}

const FAILURE_REASONS: Record<FailureCode, string> = {
  RISK_DECLINED: 'It was declined by our risk checks.',
  RISK_UNAVAILABLE: 'We could not complete the risk check; please try again later.',
  INSUFFICIENT_FUNDS: 'Your wallet did not have enough available funds.',
  AMOUNT_TOO_LARGE: 'A wallet it would move money between cannot record a total that large.',
  AUTHORIZATION_EXPIRED: 'We could not reserve the funds in time; nothing was charged, please try again.',
};

function paymentMessages(type: string, payment: PaymentFacts, nameOf: (userId: string) => string | null): PlannedNotification[] {
  const money = (value: bigint) => formatMoney({ amount: value, currency: payment.currency });
  const total = money(payment.amount);
  const merchantName = nameOf(payment.merchantId);
  const buyerName = nameOf(payment.buyerId);
  const merchant = merchantName === null ? 'the merchant' : `the merchant ${displayName(merchantName)}`;
  const buyer = buyerName === null ? 'A buyer' : `The buyer ${displayName(buyerName)}`;
  const toBuyer = (title: string, body: string) => ({ userId: payment.buyerId, type, title, body });
  const toMerchant = (title: string, body: string) => ({ userId: payment.merchantId, type, title, body });
  switch (type) {
    case 'payment.succeeded': {
      // A partial manual capture charges less than the order: say what was charged.
      const charged = money(payment.amountCaptured > 0n ? payment.amountCaptured : payment.amount);
      return [
        toBuyer(`Payment of ${charged} succeeded`, `You paid ${charged} to ${merchant}. Payment ${payment.paymentId}.`),
        toMerchant(`You received ${charged}`, `${buyer} paid you ${charged}. Payment ${payment.paymentId}.`),
      ];
    }
    case 'payment.failed': {
      const reason = payment.failureCode ? (FAILURE_REASONS[payment.failureCode as FailureCode] ?? `Reason: ${payment.failureCode}.`) : 'No money was moved.';
      return [toBuyer(`Payment of ${total} failed`, `Your payment of ${total} to ${merchant} did not go through. ${reason} Payment ${payment.paymentId}.`)];
    }
    case 'payment.requires_review':
      return [
        toBuyer(`Your payment of ${total} is under review`, `Your payment to ${merchant} is held for review; the funds stay reserved until it is approved or canceled. Payment ${payment.paymentId}.`),
        toMerchant(`A payment of ${total} is held for review`, `${buyer}'s payment is held for a risk review by Paygraph; you will be told when it is approved or rejected. Payment ${payment.paymentId}.`),
      ];
    case 'payment.authorized':
      return [toMerchant(`A payment of ${total} is ready to capture`, `${buyer}'s payment is authorized and the funds are held: capture it to collect them. Payment ${payment.paymentId}.`)];
    case 'payment.canceled':
      return [toBuyer(`Payment of ${total} canceled`, `Your payment to ${merchant} was canceled; any funds held for it were released. Payment ${payment.paymentId}.`)];
    default:
      return [];
  }
}

function refundMessages(type: string, refund: RefundFacts, nameOf: (userId: string) => string | null): PlannedNotification[] {
  if (type !== 'refund.succeeded') return [];
  const total = formatMoney({ amount: refund.amount, currency: refund.currency });
  const merchantName = nameOf(refund.merchantId);
  const buyerName = nameOf(refund.buyerId);
  const merchant = merchantName === null ? 'The merchant' : `The merchant ${displayName(merchantName)}`;
  const buyer = buyerName === null ? 'the buyer' : `the buyer ${displayName(buyerName)}`;
  return [
    { userId: refund.buyerId, type, title: `Refund of ${total}`, body: `${merchant} refunded ${total} to your wallet. Payment ${refund.paymentId}.` },
    { userId: refund.merchantId, type, title: `You refunded ${total}`, body: `Your refund of ${total} to ${buyer} succeeded. Payment ${refund.paymentId}.` },
  ];
}

/**
 * What an event asks for, or null when it asks nothing of this service (another source, an
 * order event, or a payload this version cannot read: it is skipped, never retried for ever).
 */
export function planEvent(event: Pick<DomainEvent, 'source' | 'type' | 'payload' | 'aggregateVersion'>): EventPlan | null {
  if (event.source === 'payments' && event.type.startsWith('payment.')) {
    const payment = parsePaymentFacts(event.payload);
    if (!payment) return null;
    return { userIds: [payment.buyerId, payment.merchantId], recipient: null, webhookMerchantId: payment.merchantId, compose: (nameOf) => paymentMessages(event.type, payment, nameOf) };
  }
  if (event.source === 'payments' && event.type.startsWith('refund.')) {
    const refund = parseRefundFacts(event.payload);
    if (!refund) return null;
    return { userIds: [refund.buyerId, refund.merchantId], recipient: null, webhookMerchantId: refund.merchantId, compose: (nameOf) => refundMessages(event.type, refund, nameOf) };
  }
  if (event.source === 'users' && (event.type === 'user.registered' || event.type === 'user.updated')) {
    const user = recipientPayload(event.payload);
    if (!user) return null;
    const welcome = event.type === 'user.registered';
    const previousEmail = welcome ? null : previousEmailOf(event.payload, user.email);
    return {
      userIds: [],
      recipient: { ...user, version: event.aggregateVersion },
      webhookMerchantId: null,
      compose: () => {
        if (welcome) return [{ userId: user.userId, type: event.type, title: `Welcome to Paygraph, ${defusedName(user.name)}`, body: `Your ${user.role.toLowerCase()} account is ready. We will tell you here about your payments and refunds.` }];
        if (!previousEmail) return [];
        return [
          {
            userId: user.userId,
            type: 'user.email_changed',
            title: 'The email address of your Paygraph account was changed',
            body: 'The email address of your Paygraph account was changed, and this address no longer receives its messages. If you did not make this change, contact Paygraph support at once.',
            emailTo: previousEmail,
          },
        ];
      },
    };
  }
  return null;
}

/** The channels a notification goes out on besides IN_APP; EMAIL only to a known address. */
export function extraChannels(preferences: Preferences, email: string | null): ('EMAIL' | 'SMS' | 'PUSH')[] {
  const channels: ('EMAIL' | 'SMS' | 'PUSH')[] = [];
  if (preferences.email && email) channels.push('EMAIL');
  if (preferences.sms) channels.push('SMS');
  if (preferences.push) channels.push('PUSH');
  return channels;
}
