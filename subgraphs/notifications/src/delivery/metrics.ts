/**
 * What notifications' /metrics says about deliveries: the queue (pending deliveries due now and
 * waiting for a retry, read at scrape time), every attempt's outcome by channel (sent, retry,
 * failed: the delivery's status after it) and webhook attempts by coarse result (success, HTTP
 * status class, or the closed set of transport outcomes of delivery-policy.ts, lowercased).
 */
import { serviceMetrics } from '@paygraph/metrics';
import { webhookOutcome } from '../domain/delivery-policy';
import type { NotificationsStore } from '../store/notifications-store';

export interface DeliveryMetrics {
  attempt(channel: string, status: 'SENT' | 'FAILED' | 'PENDING', webhook: { succeeded: boolean; failure: unknown } | null): void;
  stop(): void;
}

/** A webhook attempt's result as a bounded label value. */
export function webhookResult(succeeded: boolean, failure: unknown): string {
  if (succeeded) return 'success';
  const outcome = webhookOutcome(failure);
  if (!outcome.startsWith('HTTP_')) return outcome.toLowerCase();
  const status = Number(outcome.slice('HTTP_'.length));
  return status >= 400 && status < 500 ? 'http_4xx' : status >= 500 && status < 600 ? 'http_5xx' : 'http_other';
}

const OUTCOME_OF_STATUS = { SENT: 'sent', PENDING: 'retry', FAILED: 'failed' } as const;

export function deliveryMetrics(store: Pick<NotificationsStore, 'deliveryQueueDepth'>): DeliveryMetrics {
  const metrics = serviceMetrics('notifications');
  const attempts = metrics.counter('notifications_delivery_attempts_total', 'Delivery attempts by channel and outcome (sent; retry: failed, tried again later; failed: failed for good).', ['channel', 'outcome']);
  const webhooks = metrics.counter('notifications_webhook_attempts_total', 'Webhook delivery attempts by coarse result (success, http_4xx, http_5xx, http_other, timeout, connection_refused, dns_error, ...).', ['result']);
  const stop = metrics
    .gauge('notifications_delivery_queue_depth', 'Pending deliveries: due (to be sent now) and scheduled (waiting for a retry).', ['state'])
    .addSource(async () => {
      const depth = await store.deliveryQueueDepth();
      return [[{ state: 'due' }, depth.due], [{ state: 'scheduled' }, depth.scheduled]];
    });
  return {
    attempt(channel, status, webhook) {
      attempts.inc({ channel, outcome: OUTCOME_OF_STATUS[status] });
      if (webhook) webhooks.inc({ result: webhookResult(webhook.succeeded, webhook.failure) });
    },
    stop,
  };
}
