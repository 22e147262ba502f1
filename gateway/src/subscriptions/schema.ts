/**
 * The subscription schema: a copy of the gateway's API schema whose `paymentStatusChanged` field
 * runs here (Apollo Gateway does not plan subscriptions). The event fields come from the change;
 * `payment` and everything under it from the federated result, keyed by the client's aliases.
 */
import { buildSchema, GraphQLError, isObjectType, printSchema, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { apiError } from '@paygraph/errors';
import type { Delivery, LiveItem, LiveSubscription } from './live';

export const SUBSCRIPTION_FIELD = 'paymentStatusChanged';

/** The context the subscription schema's resolvers run with. */
export interface SubscriptionContext {
  live: LiveSubscription;
}

/** Nested objects come from the gateway's result, which is keyed by the client's aliases. */
export const byResponseKey: GraphQLFieldResolver<unknown, unknown> = (source, _args, _context, info) =>
  source !== null && typeof source === 'object' ? (source as Record<string, unknown>)[info.path.key as string] : undefined;

function deliveryResolver(field: (delivery: Delivery, key: string) => unknown): GraphQLFieldResolver<Delivery, SubscriptionContext> {
  return (delivery, _args, _context, info) => field(delivery, info.path.key as string);
}

/** A copy of the API schema that runs the subscription field itself; null when it has no such field. */
export function subscriptionSchema(apiSchema: GraphQLSchema): GraphQLSchema | null {
  const schema = buildSchema(printSchema(apiSchema));
  const field = schema.getSubscriptionType()?.getFields()[SUBSCRIPTION_FIELD];
  const event = schema.getType('PaymentStatusEvent');
  if (!field || !isObjectType(event)) return null;
  field.subscribe = (_root, _args, context: SubscriptionContext) => context.live;
  // The end of a session (token expired, client too slow) is one error, then the stream completes.
  field.resolve = (item: LiveItem) => {
    if (item.kind === 'end') throw item.error;
    return item.delivery;
  };
  const fields = event.getFields();
  const resolvers: Record<string, (delivery: Delivery, key: string) => unknown> = {
    sequence: (delivery) => delivery.change.sequence.toString(),
    status: (delivery) => delivery.change.status,
    previousStatus: (delivery) => delivery.change.previousStatus,
    occurredAt: (delivery) => delivery.change.occurredAt,
    payment: (delivery, key) => {
      const payment = delivery.payments[key];
      if (payment === null || payment === undefined) {
        const first = delivery.errors[0];
        throw first ? new GraphQLError(first.message, { extensions: first.extensions ?? {} }) : apiError('NOT_FOUND', 'The payment could not be resolved.');
      }
      return payment;
    },
  };
  for (const [name, resolve] of Object.entries(resolvers)) {
    const target = fields[name];
    if (target) target.resolve = deliveryResolver(resolve) as GraphQLFieldResolver<unknown, unknown>;
  }
  return schema;
}
