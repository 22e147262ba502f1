// Proves the payment and order transition tables and the step table: every move the flow makes is
// in them, final states have no way out, anything else is refused as a programmer error, every
// non-final step is resumed by recovery, and an order's status follows from its payments.
import { describe, expect, it } from 'vitest';
import {
  ORDER_TRANSITIONS,
  PAYMENT_STEPS,
  PAYMENT_TRANSITIONS,
  RESUMABLE_SETTLED_STEPS,
  assertTransition,
  canMoveOrder,
  must,
  orderStatusAfterRefund,
  orderStatusOf,
  statusAfterHold,
} from '../src/domain/payment-state';

describe('payment transitions', () => {
  it.each([
    ['PENDING', 'FAILED'],
    ['PENDING', 'REQUIRES_REVIEW'],
    ['PENDING', 'AUTHORIZED'],
    ['PENDING', 'SUCCEEDED'],
    // An automatic capture whose hold expired before recovery could capture it.
    ['PENDING', 'CANCELED'],
    ['AUTHORIZED', 'SUCCEEDED'],
    ['AUTHORIZED', 'CANCELED'],
    ['REQUIRES_REVIEW', 'AUTHORIZED'],
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
    ['REQUIRES_REVIEW', 'FAILED'],
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

describe('order transitions', () => {
  it.each([
    ['PENDING', 'PAID'],
    ['PENDING', 'CANCELED'],
    ['PAID', 'PARTIALLY_REFUNDED'],
    ['PAID', 'REFUNDED'],
    ['PARTIALLY_REFUNDED', 'PARTIALLY_REFUNDED'],
    ['PARTIALLY_REFUNDED', 'REFUNDED'],
  ] as const)('allows %s -> %s', (from, to) => {
    expect(canMoveOrder(from, to)).toBe(true);
  });

  it.each([
    ['CANCELED', 'PAID'],
    ['PAID', 'CANCELED'],
    ['REFUNDED', 'PARTIALLY_REFUNDED'],
    ['PENDING', 'REFUNDED'],
    ['PAID', 'PENDING'],
  ] as const)('refuses %s -> %s', (from, to) => {
    expect(canMoveOrder(from, to)).toBe(false);
  });

  it('has no way out of a canceled or refunded order', () => {
    expect([ORDER_TRANSITIONS.CANCELED, ORDER_TRANSITIONS.REFUNDED]).toEqual([[], []]);
  });

  it('derives the order status from its payments', () => {
    const payment = (status: 'SUCCEEDED' | 'FAILED' | 'CANCELED' | 'AUTHORIZED', amountCaptured = 0n, amountRefunded = 0n) => ({ status, amountCaptured, amountRefunded });
    expect(orderStatusOf([], false)).toBe('PENDING');
    expect(orderStatusOf([payment('FAILED')], false)).toBe('PENDING');
    expect(orderStatusOf([payment('CANCELED')], true)).toBe('CANCELED');
    expect(orderStatusOf([payment('FAILED'), payment('SUCCEEDED', 3000n)], false)).toBe('PAID');
    expect(orderStatusOf([payment('SUCCEEDED', 3000n, 1n)], false)).toBe('PARTIALLY_REFUNDED');
    expect(orderStatusOf([payment('SUCCEEDED', 3000n, 3000n)], false)).toBe('REFUNDED');
  });
});

describe('payment steps', () => {
  it('makes every step that calls a service resumable by recovery, and names the claimed ones', () => {
    for (const [step, row] of Object.entries(PAYMENT_STEPS)) expect([step, row.resumedByRecovery]).toEqual([step, row.call !== null]);
    expect(RESUMABLE_SETTLED_STEPS).toEqual(['CAPTURE_REQUESTED', 'CANCEL_REQUESTED']);
  });

  it('asserts an invariant with its message', () => {
    expect(must(0, 'zero is a value')).toBe(0);
    expect(() => must(null, 'a held payment has a hold')).toThrow('Invariant broken: a held payment has a hold');
  });
});
