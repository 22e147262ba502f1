/**
 * The HTTP side of subscriptions: a subscription sent over HTTP is a clear 400 (Apollo Gateway
 * would answer 500), and the gateway's read of the payments log for replays.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { ServiceClient } from '@paygraph/service-client';
import type { GatewayContext } from '../context';
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

const STATUS_LOG = /* GraphQL */ `
  query PaymentStatusLog($after: String!, $paymentId: ID, $userId: ID, $first: Int) {
    paymentStatusLog(after: $after, paymentId: $paymentId, userId: $userId, first: $first) {
      sequence paymentId buyerId merchantId status previousStatus occurredAt
    }
  }
`;

/** As the log query returns it: the sequence as a decimal string. */
type LogEntry = Omit<PaymentStatusChange, 'sequence'> & { sequence: string };

/**
 * Reads payment status changes after a position from the payments service (internal query),
 * narrowed there in SQL to one payment or one viewer's payments.
 */
export function readPaymentStatusLog(client: ServiceClient): ReadStatusLog {
  return async (after, filter, limit): Promise<PaymentStatusChange[]> => {
    const data = await client.request<{ paymentStatusLog: LogEntry[] }>('payments', STATUS_LOG, { after: after.toString(), paymentId: filter.paymentId, userId: filter.userId, first: limit });
    return data.paymentStatusLog.map((entry) => ({ ...entry, sequence: BigInt(entry.sequence) }));
  };
}
