import { auditOutboxTable } from '@paygraph/audit';
import { inboxTable } from '@paygraph/events';
import { sql } from 'drizzle-orm';
import { bigserial, boolean, check, index, integer, pgSchema, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** The notifications service's own Postgres schema; no other service reads it. */
export const notificationsSchema = pgSchema('notifications');

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
};

export const CHANNELS = ['EMAIL', 'SMS', 'PUSH', 'IN_APP'] as const;
export type Channel = (typeof CHANNELS)[number];
export const DELIVERY_STATUSES = ['PENDING', 'SENT', 'FAILED'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * What this service knows of a user to reach them: a projection of the users service's
 * `user.registered` / `user.updated` events (`version` is the event's aggregate version, so an
 * older event never overwrites a newer one), or a row fetched from users when an event named a
 * user before their own event arrived (version 0: any event replaces it).
 */
export const recipients = notificationsSchema.table('recipients', {
  userId: text('user_id').primaryKey(),
  email: text('email'),
  name: text('name').notNull(),
  role: text('role').notNull(),
  version: integer('version').notNull().default(0),
  ...timestamps,
});

/** A user's channel choices; no row means the defaults (email on, sms off, push off). */
export const preferences = notificationsSchema.table('preferences', {
  userId: text('user_id').primaryKey(),
  email: boolean('email').notNull(),
  sms: boolean('sms').notNull(),
  push: boolean('push').notNull(),
  ...timestamps,
});

/**
 * One message to one user on one channel. IN_APP ones are delivered by being stored (SENT); the
 * others follow their delivery's status.
 */
export const notifications = notificationsSchema.table(
  'notifications',
  {
    id: text('id').primaryKey(),
    /** Insertion order, for stable newest-first pagination. */
    position: bigserial('position', { mode: 'bigint' }).notNull(),
    userId: text('user_id').notNull(),
    channel: text('channel', { enum: CHANNELS }).notNull(),
    /** The event type that caused it, e.g. `payment.succeeded`. */
    type: text('type').notNull(),
    title: text('title').notNull(),
    body: text('body').notNull(),
    status: text('status', { enum: DELIVERY_STATUSES }).notNull(),
    eventId: text('event_id').notNull(),
    readAt: timestamp('read_at', { withTimezone: true }),
    ...timestamps,
  },
  (table) => [
    // The inbox applies an event once; this also makes a second notification for it impossible.
    uniqueIndex('notifications_event_user_channel_unique').on(table.eventId, table.userId, table.channel),
    index('notifications_user_position_idx').on(table.userId, table.position),
    index('notifications_user_unread_position_idx').on(table.userId, table.position).where(sql`${table.readAt} is null`),
  ],
);

/** A merchant's HTTPS (or HTTP) endpoint for signed event deliveries. */
export const webhookEndpoints = notificationsSchema.table(
  'webhook_endpoints',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id').notNull(),
    url: text('url').notNull(),
    /** The signing secret, AES-256-GCM under a key derived from SERVICE_SECRET (needed in clear to sign). */
    secretSealed: text('secret_sealed').notNull(),
    /** Set while disabled: no deliveries are created for it and pending ones were failed. */
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    /** After a rotation: the replaced secret, sealed, which still signs until `previousSecretExpiresAt`. */
    previousSecretSealed: text('previous_secret_sealed'),
    previousSecretExpiresAt: timestamp('previous_secret_expires_at', { withTimezone: true }),
    secretRotatedAt: timestamp('secret_rotated_at', { withTimezone: true }),
    ...timestamps,
  },
  (table) => [index('webhook_endpoints_merchant_idx').on(table.merchantId, table.createdAt)],
);

/**
 * Outgoing work: an EMAIL, SMS or PUSH notification, or one event for one webhook endpoint.
 * PENDING until sent (SENT) or until the last allowed attempt failed (FAILED). A worker claims a
 * due delivery by counting the attempt and pushing `next_attempt_at` past the send timeout (a
 * lease), so two workers never send it at once and a worker that dies mid-send is taken over.
 */
export const deliveries = notificationsSchema.table(
  'deliveries',
  {
    id: text('id').primaryKey(),
    position: bigserial('position', { mode: 'bigint' }).notNull(),
    kind: text('kind', { enum: ['NOTIFICATION', 'WEBHOOK'] }).notNull(),
    channel: text('channel', { enum: ['EMAIL', 'SMS', 'PUSH', 'WEBHOOK'] }).notNull(),
    notificationId: text('notification_id'),
    endpointId: text('endpoint_id'),
    /** The recipient (NOTIFICATION) or the endpoint's merchant (WEBHOOK). */
    userId: text('user_id').notNull(),
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    /** WEBHOOK: the exact JSON body sent (and signed) on every attempt. */
    body: text('body'),
    /** EMAIL to an address other than the recipient's current one (the old address, told of an email change). */
    emailTo: text('email_to'),
    status: text('status', { enum: DELIVERY_STATUSES }).notNull(),
    /** Attempts started so far. */
    attempts: integer('attempts').notNull().default(0),
    /** Attempts allowed in all, when not DELIVERY_ATTEMPTS_MAX: a resend allows exactly one more. */
    attemptsMax: integer('attempts_max'),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    lastError: text('last_error'),
    /** The traceparent of the request whose event caused it (when traced): each attempt's span continues that trace. */
    traceParent: text('trace_parent'),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('deliveries_notification_unique').on(table.notificationId).where(sql`${table.notificationId} is not null`),
    uniqueIndex('deliveries_endpoint_event_unique').on(table.endpointId, table.eventId).where(sql`${table.endpointId} is not null`),
    index('deliveries_due_idx').on(table.nextAttemptAt).where(sql`${table.status} = 'PENDING'`),
    index('deliveries_endpoint_position_idx').on(table.endpointId, table.position),
    check('deliveries_target_check', sql`(${table.kind} = 'NOTIFICATION') = (${table.notificationId} is not null) and (${table.kind} = 'WEBHOOK') = (${table.endpointId} is not null)`),
  ],
);

/** Every attempt of a delivery, successful or not. */
export const deliveryAttempts = notificationsSchema.table(
  'delivery_attempts',
  {
    deliveryId: text('delivery_id').notNull(),
    number: integer('number').notNull(),
    attemptedAt: timestamp('attempted_at', { withTimezone: true }).notNull(),
    succeeded: boolean('succeeded').notNull(),
    /** WEBHOOK: the endpoint's HTTP status, when it answered. */
    responseStatus: integer('response_status'),
    /** Why it failed, truncated; never a secret. */
    error: text('error'),
  },
  (table) => [primaryKey({ columns: [table.deliveryId, table.number] })],
);

/** Events applied (packages/events inbox): each one's effects happen once. */
export const processedEvents = inboxTable(notificationsSchema);

export type RecipientRow = typeof recipients.$inferSelect;
export type PreferencesRow = typeof preferences.$inferSelect;
export type NotificationRow = typeof notifications.$inferSelect;
export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryAttemptRow = typeof deliveryAttempts.$inferSelect;
/** Audit records waiting to be relayed to users' trail (packages/audit outbox.ts). */
export const auditOutbox = auditOutboxTable(notificationsSchema);

export const schema = { recipients, preferences, notifications, webhookEndpoints, deliveries, deliveryAttempts, processedEvents, auditOutbox };
