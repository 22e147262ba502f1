// Proves the payment transition table: every move the flow makes is in it, final states have no
// way out, and anything else is refused as a programmer error.
import { describe, expect, it } from 'vitest';
import { PAYMENT_TRANSITIONS, assertTransition, orderStatusAfterRefund, statusAfterHold } from '../src/domain/payment-state';

describe('payment transitions', () => {
  it.each([
    ['PENDING', 'FAILED'],
    ['PENDING', 'REQUIRES_REVIEW'],
    ['PENDING', 'AUTHORIZED'],
    ['PENDING', 'SUCCEEDED'],
    ['AUTHORIZED', 'SUCCEEDED'],
    ['AUTHORIZED', 'CANCELED'],
    ['REQUIRES_REVIEW', 'SUCCEEDED'],
    ['REQUIRES_REVIEW', 'CANCELED'],
  ] as const)('allows %s -> %s', (from, to) => {
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it.each([
    ['SUCCEEDED', 'CANCELED'],
    ['FAILED', 'SUCCEEDED'],
    ['CANCELED', 'AUTHORIZED'],
    ['AUTHORIZED', 'PENDING'],
    ['PENDING', 'CANCELED'],
  ] as const)('refuses %s -> %s', (from, to) => {
    expect(() => assertTransition(from, to)).toThrow(/Impossible payment transition/);
  });

  it('has no way out of a final state', () => {
    expect([PAYMENT_TRANSITIONS.SUCCEEDED, PAYMENT_TRANSITIONS.FAILED, PAYMENT_TRANSITIONS.CANCELED]).toEqual([[], [], []]);
  });

  it('picks the state after the hold and the order status after refunds', () => {
    expect(statusAfterHold('REVIEW', 'AUTOMATIC')).toBe('REQUIRES_REVIEW');
    expect(statusAfterHold('APPROVE', 'MANUAL')).toBe('AUTHORIZED');
    expect(statusAfterHold('APPROVE', 'AUTOMATIC')).toBe('CAPTURE');
    expect(orderStatusAfterRefund(2500n, 1000n)).toBe('PARTIALLY_REFUNDED');
    expect(orderStatusAfterRefund(2500n, 2500n)).toBe('REFUNDED');
  });
});
