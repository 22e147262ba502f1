/**
 * Thin resolvers: who may do what, input checks, then the store. Only users have notifications
 * (anonymous: UNAUTHENTICATED); a notification or endpoint of someone else is NOT_FOUND, as if
 * it did not exist. Webhook endpoints belong to merchants (and admins, for their own tests).
 */
import { auditedChange } from '@paygraph/audit';
import { badUserInput, invalidState, notFound } from '@paygraph/errors';
import { requireRole, requireUser } from '@paygraph/identity';
import { scalarResolvers } from '@paygraph/scalars';
import { connection, decodeCursor, pageSize } from '@paygraph/server';
import type { WebhookEndpointRow } from '../db/schema';
import { vetWebhookUrl } from '../domain/webhook-url';
import type { Resolvers } from '../generated/resolvers-types';
import { WEBHOOK_ENDPOINTS_PER_MERCHANT_MAX } from '../store/notifications-store';
import { newWebhookSecret } from '../webhooks/secrets';
import type { WebhookEndpointView } from './mappers';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const endpointView = (row: WebhookEndpointRow, secret: string | null = null): WebhookEndpointView => ({
  id: row.id,
  url: row.url,
  createdAt: row.createdAt,
  enabled: row.disabledAt === null,
  secretRotatedAt: row.secretRotatedAt,
  // Shown only while it still signs.
  previousSecretExpiresAt: row.previousSecretExpiresAt && row.previousSecretExpiresAt.getTime() > Date.now() ? row.previousSecretExpiresAt : null,
  secret,
});

/** How long a rotated-out secret keeps signing when the merchant does not say: a day to roll receivers over. */
export const SECRET_GRACE_SECONDS_DEFAULT = 86_400;
/** Longest grace period: a week. */
export const SECRET_GRACE_SECONDS_MAX = 604_800;

const noSuchEndpoint = () => notFound('No such webhook endpoint.');

export const resolvers: Resolvers = {
  DateTime: scalarResolvers.DateTime,
  Query: {
    notifications: async (_parent, args, context) => {
      const viewer = requireUser(context.viewer);
      const limit = pageSize(args.first);
      const before = decodeCursor(args.after, 'notifications');
      const rows = await context.store.listNotifications({ userId: viewer.userId, unreadOnly: args.unreadOnly === true, beforePosition: before === null ? null : BigInt(before), limit: limit + 1 });
      return connection(rows, limit, (row) => row.position.toString(), 'notifications');
    },
    notificationPreferences: async (_parent, _args, context) => {
      const viewer = requireUser(context.viewer);
      return context.store.preferencesOf(viewer.userId);
    },
    webhookEndpoints: async (_parent, _args, context) => {
      const viewer = requireRole(context.viewer, 'MERCHANT', 'ADMIN');
      return (await context.store.endpointsOf(viewer.userId)).map((row) => endpointView(row));
    },
    webhookDeliveries: async (_parent, args, context) => {
      const viewer = requireRole(context.viewer, 'MERCHANT', 'ADMIN');
      const limit = pageSize(args.first);
      const before = decodeCursor(args.after, 'webhookDeliveries');
      const endpoint = ID.test(args.endpointId) ? await context.store.endpointById(args.endpointId) : null;
      if (!endpoint || endpoint.merchantId !== viewer.userId) throw noSuchEndpoint();
      const rows = await context.store.deliveriesOfEndpoint(endpoint.id, before === null ? null : BigInt(before), limit + 1);
      return connection(rows, limit, (row) => row.position.toString(), 'webhookDeliveries');
    },
  },
  Mutation: {
    markNotificationRead: async (_parent, { id }, context) => {
      const viewer = requireUser(context.viewer);
      const row = ID.test(id) ? await context.store.markRead(viewer.userId, id) : null;
      if (!row) throw notFound('No such notification.');
      return row;
    },
    updateNotificationPreferences: async (_parent, { input }, context) => {
      const viewer = requireUser(context.viewer);
      return context.store.updatePreferences(viewer.userId, { email: input.email, sms: input.sms, push: input.push });
    },
    registerWebhookEndpoint: async (_parent, { input }, context) => {
      const viewer = requireRole(context.viewer, 'MERCHANT', 'ADMIN');
      const url = await vetWebhookUrl(input.url, { privateAddressesAllowed: context.settings.webhookPrivateAddressesAllowed, resolveAll: context.resolveAll });
      const secret = newWebhookSecret();
      // Each endpoint change commits with its audit record (packages/audit: auditedChange).
      const row = await auditedChange(
        context.audit,
        context,
        (id: string) => ({ type: 'webhook.endpoint_registered', actorId: viewer.userId, subjectId: id, outcome: 'SUCCESS' }),
        (audit) => context.store.createEndpoint(viewer.userId, url, context.sealer.seal(secret), audit),
      );
      if (!row) throw badUserInput(`A merchant may register at most ${WEBHOOK_ENDPOINTS_PER_MERCHANT_MAX} webhook endpoints`, 'input.url');
      return endpointView(row, secret);
    },
    disableWebhookEndpoint: async (_parent, { id }, context) => {
      const viewer = requireRole(context.viewer, 'MERCHANT', 'ADMIN');
      const entry = () => ({ type: 'webhook.endpoint_disabled', actorId: viewer.userId, subjectId: id, outcome: 'SUCCESS' as const });
      const row = ID.test(id) ? await auditedChange(context.audit, context, entry, (audit) => context.store.setEndpointEnabled(viewer.userId, id, false, audit)) : null;
      if (!row) throw noSuchEndpoint();
      return endpointView(row);
    },
    enableWebhookEndpoint: async (_parent, { id }, context) => {
      const viewer = requireRole(context.viewer, 'MERCHANT', 'ADMIN');
      const entry = () => ({ type: 'webhook.endpoint_enabled', actorId: viewer.userId, subjectId: id, outcome: 'SUCCESS' as const });
      const row = ID.test(id) ? await auditedChange(context.audit, context, entry, (audit) => context.store.setEndpointEnabled(viewer.userId, id, true, audit)) : null;
      if (!row) throw noSuchEndpoint();
      return endpointView(row);
    },
    deleteWebhookEndpoint: async (_parent, { id }, context) => {
      const viewer = requireRole(context.viewer, 'MERCHANT', 'ADMIN');
      const entry = () => ({ type: 'webhook.endpoint_deleted', actorId: viewer.userId, subjectId: id, outcome: 'SUCCESS' as const });
      return ID.test(id) && (await auditedChange(context.audit, context, entry, (audit) => context.store.deleteEndpoint(viewer.userId, id, audit)));
    },
    rotateWebhookSecret: async (_parent, { input }, context) => {
      const viewer = requireRole(context.viewer, 'MERCHANT', 'ADMIN');
      const grace = input.gracePeriodSeconds ?? SECRET_GRACE_SECONDS_DEFAULT;
      if (!Number.isInteger(grace) || grace < 0 || grace > SECRET_GRACE_SECONDS_MAX) throw badUserInput(`gracePeriodSeconds must be 0 to ${SECRET_GRACE_SECONDS_MAX}`, 'input.gracePeriodSeconds');
      const secret = newWebhookSecret();
      const entry = () => ({ type: 'webhook.secret_rotated', actorId: viewer.userId, subjectId: input.endpointId, outcome: 'SUCCESS' as const });
      const row = ID.test(input.endpointId)
        ? await auditedChange(context.audit, context, entry, (audit) => context.store.rotateSecret(viewer.userId, input.endpointId, context.sealer.seal(secret), grace, audit))
        : null;
      if (!row) throw noSuchEndpoint();
      return endpointView(row, secret);
    },
    resendWebhookDelivery: async (_parent, { id }, context) => {
      const viewer = requireRole(context.viewer, 'MERCHANT', 'ADMIN');
      const delivery = ID.test(id) ? await context.store.resendDelivery(viewer.userId, id) : null;
      if (!delivery) throw notFound('No such webhook delivery (or its endpoint is disabled).');
      if (delivery === 'PENDING') throw invalidState('This delivery is still being attempted.');
      context.kickWorker();
      return delivery;
    },
  },
  Notification: {
    deliveryAttempts: async (notification, _args, context) => {
      if (notification.channel === 'IN_APP') return 0;
      return (await context.loaders.deliveryByNotificationId.load(notification.id))?.attempts ?? 0;
    },
  },
  WebhookDelivery: {
    attempts: (delivery, _args, context) => context.loaders.attemptsByDeliveryId.load(delivery.id),
  },
};
