/**
 * The HTTP side of subscriptions: a subscription sent over HTTP is a clear 400 (Apollo Gateway
 * would answer 500), and the gateway's read of the payments log for replays.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { STATUS_LOG_PAGE_MAX } from '@paygraph/events';
import { badUserInput } from '@paygraph/errors';
import { createPort, ServiceContractError, type ServiceClient } from '@paygraph/service-client';
import type { GatewayContext } from '../context';
import { PaymentStatusLogDocument } from '../generated/payments-operations';
import type { PaymentStatusChange, ReadStatusLog } from './hub';

export const rejectSubscriptionsOverHttp: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ operation }) {
        if (operation?.operation !== 'subscription') return;
        throw new GraphQLError('Subscriptions are served over WebSocket (graphql-transport-ws) at ws://<host>/graphql, not over HTTP.', {
          extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
        });
      },
    };
  },
};

/**
 * Reads payment status changes after a position from the payments service (internal query),
 * narrowed there in SQL to one payment or one viewer's payments.
 */
export function readPaymentStatusLog(client: ServiceClient): ReadStatusLog {
  // An `after` older than the retained log is the subscriber's own argument (payments says so in
  // words written for them); the gateway builds every other argument itself, so any other refusal
  // is a broken contract (internal).
  const payments = createPort({
    client,
    service: 'payments',
    translate: { BAD_USER_INPUT: (refusal) => (refusal.field === 'after' ? badUserInput(refusal.message, 'after') : new ServiceContractError(refusal, 'PaymentStatusLog')) },
  });
  return async (after, filter, limit): Promise<PaymentStatusChange[]> => {
    // A larger page would come back clamped and read as the end of the log.
    if (limit > STATUS_LOG_PAGE_MAX) throw new Error(`The payments log returns at most ${STATUS_LOG_PAGE_MAX} changes per read, not ${limit}`);
    const data = await payments.call(PaymentStatusLogDocument, { after: after.toString(), paymentId: filter.paymentId, userId: filter.userId, first: limit });
    return data.paymentStatusLog.map((entry) => ({ ...entry, sequence: BigInt(entry.sequence) }));
  };
}
