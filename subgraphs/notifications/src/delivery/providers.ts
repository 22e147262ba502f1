/**
 * Where EMAIL, SMS and PUSH notifications go: one small interface per channel, so a real SMS or
 * push service replaces a development provider without touching the worker. EMAIL goes through
 * SMTP (nodemailer) when SMTP_URL is set; otherwise, and for SMS and PUSH always (no provider is
 * configured in this repository), a development provider records each message in memory
 * (`developmentDeliveries`, which tests read) and logs it.
 */
import nodemailer from 'nodemailer';
import type { Logger } from '@paygraph/logging';

export type ProviderChannel = 'EMAIL' | 'SMS' | 'PUSH';

export interface OutgoingMessage {
  deliveryId: string;
  channel: ProviderChannel;
  userId: string;
  /** The recipient's address (EMAIL); null when unknown. */
  email: string | null;
  name: string | null;
  /** The event type, e.g. `payment.succeeded`. */
  type: string;
  title: string;
  body: string;
}

export interface DeliveryProvider {
  readonly channel: ProviderChannel;
  /** Resolves once the provider accepted the message; throws when it did not (the worker retries). */
  send(message: OutgoingMessage): Promise<void>;
  close?(): void;
}

export interface RecordedDelivery {
  channel: ProviderChannel;
  deliveryId: string;
  userId: string;
  to: string;
  title: string;
  body: string;
  at: Date;
}

/** Messages the development providers kept, newest last; bounded (the oldest go first). */
const RECORDED_DELIVERIES_MAX = 1_000;
const recorded: RecordedDelivery[] = [];

/** What the development providers of this process delivered (for tests and local inspection). */
export const developmentDeliveries = {
  all: (): readonly RecordedDelivery[] => recorded,
  forUser: (userId: string, channel?: ProviderChannel): RecordedDelivery[] => recorded.filter((entry) => entry.userId === userId && (!channel || entry.channel === channel)),
};

export function createDevelopmentProvider(channel: ProviderChannel, logger: Logger): DeliveryProvider {
  return {
    channel,
    async send(message) {
      const to = channel === 'EMAIL' ? message.email : message.userId;
      if (!to) throw new Error('the recipient has no email address');
      recorded.push({ channel, deliveryId: message.deliveryId, userId: message.userId, to, title: message.title, body: message.body, at: new Date() });
      if (recorded.length > RECORDED_DELIVERIES_MAX) recorded.splice(0, recorded.length - RECORDED_DELIVERIES_MAX);
      logger.info({ channel, deliveryId: message.deliveryId, userId: message.userId, title: message.title }, `development ${channel.toLowerCase()} provider: message recorded, not sent`);
    },
  };
}

/** Connection, greeting and socket inactivity limits of one SMTP delivery. */
const SMTP_CONNECTION_TIMEOUT_MS = 10_000;
const SMTP_SOCKET_TIMEOUT_MS = 20_000;

/** EMAIL over SMTP. The URL (which may hold a password) is never logged. */
export function createSmtpProvider(options: { url: string; from: string }): DeliveryProvider {
  const transport = nodemailer.createTransport({
    url: options.url,
    connectionTimeout: SMTP_CONNECTION_TIMEOUT_MS,
    greetingTimeout: SMTP_CONNECTION_TIMEOUT_MS,
    socketTimeout: SMTP_SOCKET_TIMEOUT_MS,
    // Messages are built from our own text only: never read files or URLs into them.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return {
    channel: 'EMAIL',
    async send(message) {
      if (!message.email) throw new Error('the recipient has no email address');
      await transport.sendMail({
        from: options.from,
        to: message.name ? { name: message.name, address: message.email } : message.email,
        subject: message.title,
        text: message.body,
        headers: { 'X-Paygraph-Notification': message.deliveryId },
      });
    },
    close: () => transport.close(),
  };
}

/** The provider of each channel, as the settings say. */
export function createProviders(options: { smtpUrl: string | null; smtpFrom: string; logger: Logger }): Map<ProviderChannel, DeliveryProvider> {
  const email = options.smtpUrl ? createSmtpProvider({ url: options.smtpUrl, from: options.smtpFrom }) : createDevelopmentProvider('EMAIL', options.logger);
  return new Map<ProviderChannel, DeliveryProvider>([
    ['EMAIL', email],
    ['SMS', createDevelopmentProvider('SMS', options.logger)],
    ['PUSH', createDevelopmentProvider('PUSH', options.logger)],
  ]);
}
