/**
 * Thin resolvers: who may do what, input checks, then the store. Only users have notifications
 * (anonymous: UNAUTHENTICATED); a notification or endpoint of someone else is NOT_FOUND, as if
 * it did not exist. Webhook endpoints belong to merchants (and admins, for their own tests).
 */
import { badUserInput, notFound } from '@paygraph/errors';
import { requireRole, requireUser } from '@paygraph/identity';
import { scalarResolvers } from '@paygraph/scalars';
import { connection, decodeCursor, pageSize } from '@paygraph/server';
import type { WebhookEndpointRow } from '../db/schema';
import { assertWebhookUrl } from '../domain/webhook-url';
import type { Resolvers } from '../generated/resolvers-types';
import { WEBHOOK_ENDPOINTS_PER_MERCHANT_MAX } from '../store/notifications-store';
import { newWebhookSecret } from '../webhooks/secrets';
import type { WebhookEndpointView } from './mappers';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const endpointView = (row: WebhookEndpointRow, secret: string | null = null): WebhookEndpointView => ({ id: row.id, url: row.url, createdAt: row.createdAt, secret });

export const resolvers: Resolvers = {
  DateTime: scalarResolvers.DateTime,
  Query: {
    notifications: async (_parent, args, context) => {
      const viewer = requireUser(context.viewer);
      const limit = pageSize(args.first);
      const before = decodeCursor(args.after);
      const rows = await context.store.listNotifications({ userId: viewer.userId, unreadOnly: args.unreadOnly === true, beforePosition: before === null ? null : BigInt(before), limit: limit + 1 });
      return connection(rows, limit, (row) => row.position.toString());
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
      const before = decodeCursor(args.after);
      const endpoint = ID.test(args.endpointId) ? await context.store.endpointById(args.endpointId) : null;
      if (!endpoint || endpoint.merchantId !== viewer.userId) throw notFound('No such webhook endpoint.');
      const rows = await context.store.deliveriesOfEndpoint(endpoint.id, before === null ? null : BigInt(before), limit + 1);
      return connection(rows, limit, (row) => row.position.toString());
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
      const url = assertWebhookUrl(input.url, { privateAddressesAllowed: context.settings.webhookPrivateAddressesAllowed });
      const secret = newWebhookSecret();
      const row = await context.store.createEndpoint(viewer.userId, url, context.sealer.seal(secret));
      if (!row) throw badUserInput(`A merchant may register at most ${WEBHOOK_ENDPOINTS_PER_MERCHANT_MAX} webhook endpoints`, 'input.url');
      return endpointView(row, secret);
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
