import type { DomainEvent } from '@paygraph/events';

/** A payments log event: payment pay_1 of buyer usr_b to merchant usr_m reaching `status`, at `sequence`. */
export function statusEvent(sequence: number, status = 'SUCCEEDED'): DomainEvent {
  return {
    id: `evt_${sequence}`,
    source: 'payments',
    sequence: String(sequence),
    aggregateType: 'Payment',
    aggregateId: 'pay_1',
    aggregateVersion: sequence,
    type: `payment.${status.toLowerCase()}`,
    payload: {
      paymentId: 'pay_1',
      buyerId: 'usr_b',
      merchantId: 'usr_m',
      status,
      previousStatus: 'PENDING',
    },
    occurredAt: new Date(0).toISOString(),
  };
}
