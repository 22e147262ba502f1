// Proves the payment saga's step table is a closed machine that `advance`, recovery and commands
// can run from: walking PAYMENT_STEPS from CREATED along every call outcome and every claim reaches
// every step, every outcome leads to a step of the table with a status change the transition
// tables allow, final steps are reached only in final statuses, every calling step has a call in
// STEP_CALLS and stays put (stalled) when its service is unavailable, and no chain of call
// outcomes loops or outgrows what `advance` takes in one go.
import { describe, expect, it } from 'vitest';
import {
  ORDER_TRANSITIONS,
  PAYMENT_STEPS,
  PAYMENT_TRANSITIONS,
  RESUMABLE_SETTLED_STEPS,
  stepRow,
  type PaymentStatus,
  type PaymentStep,
  type StepTarget,
} from '../src/domain/payment-state';
import { ADVANCE_STEPS_MAX } from '../src/saga/advance';
import { STEP_CALLS } from '../src/saga/steps';

const steps = Object.keys(PAYMENT_STEPS) as PaymentStep[];
const finalStatus = (status: PaymentStatus) => PAYMENT_TRANSITIONS[status].length === 0;

/** Every edge of the table: from a step in a status, by a call outcome or a claim, to a target. */
function edges(): { from: PaymentStep; status: PaymentStatus; by: string; target: StepTarget }[] {
  const found: { from: PaymentStep; status: PaymentStatus; by: string; target: StepTarget }[] = [];
  for (const step of steps) {
    const row = stepRow(step);
    for (const [outcome, target] of Object.entries(row.next)) for (const status of row.runsWhile) found.push({ from: step, status, by: outcome, target });
    for (const [name, claim] of Object.entries(row.claims)) for (const status of claim.from) found.push({ from: step, status, by: `claim ${name}`, target: claim });
  }
  return found;
}

describe('the payment step table', () => {
  it('reaches every step and every status from CREATED (PENDING), along call outcomes and claims', () => {
    const seen = new Set<string>(['CREATED PENDING']);
    const queue: [PaymentStep, PaymentStatus][] = [['CREATED', 'PENDING']];
    while (queue.length > 0) {
      const [step, status] = queue.shift()!;
      for (const edge of edges().filter((candidate) => candidate.from === step && candidate.status === status)) {
        const next: [PaymentStep, PaymentStatus] = [edge.target.step, edge.target.status ?? status];
        if (!seen.has(next.join(' '))) {
          seen.add(next.join(' '));
          queue.push(next);
        }
      }
    }
    expect(new Set([...seen].map((state) => state.split(' ')[0]))).toEqual(new Set(steps));
    expect(new Set([...seen].map((state) => state.split(' ')[1]))).toEqual(new Set(Object.keys(PAYMENT_TRANSITIONS)));
  });

  it('leads every outcome and claim to a step of the table, with a status and order move the transition tables allow', () => {
    for (const { from, status, by, target } of edges()) {
      const where = `${from} (${status}) by ${by}`;
      expect(steps, where).toContain(target.step);
      if (target.status !== undefined && target.status !== status) expect(PAYMENT_TRANSITIONS[status], where).toContain(target.status);
      // A payment's order moves only while the payment is live, so from PENDING.
      if (target.order !== undefined) expect(ORDER_TRANSITIONS.PENDING, where).toContain(target.order);
      if (target.orderRequired) expect(target.order, where).toBeDefined();
      // A final step is reached only in a final status; a final status only at a final step.
      const after = target.status ?? status;
      expect(stepRow(target.step).call === null, where).toBe(finalStatus(after));
    }
  });

  it('gives final steps no call, no outcome and no claim, and every calling step a call and an unavailable outcome that stays put', () => {
    for (const step of steps) {
      const row = stepRow(step);
      if (row.call === null) {
        expect([step, row.next, row.claims, row.runsWhile]).toEqual([step, {}, {}, []]);
        expect(STEP_CALLS).not.toHaveProperty(step);
        continue;
      }
      expect(STEP_CALLS, step).toHaveProperty(step);
      expect(row.runsWhile.length, step).toBeGreaterThan(0);
      expect(row.next.unavailable, step).toEqual({ step, stalled: true });
      for (const [outcome, target] of Object.entries(row.next)) if (!target.stalled) expect(target.step, `${step} ${outcome} moves on`).not.toBe(step);
    }
  });

  it('has no loop among call outcomes, and its longest chain fits in one advance', () => {
    const longest = (step: PaymentStep, path: PaymentStep[]): number => {
      expect(path, `a loop through ${step}`).not.toContain(step);
      const next = Object.values(stepRow(step).next).filter((target) => !target.stalled);
      return next.length === 0 ? 0 : 1 + Math.max(...next.map((target) => longest(target.step, [...path, step])));
    };
    for (const step of steps) expect(longest(step, [])).toBeLessThan(ADVANCE_STEPS_MAX);
  });

  it('has recovery resume exactly the calling steps, the settled ones being those that run after a claim', () => {
    expect(steps.filter((step) => stepRow(step).resumedByRecovery)).toEqual(steps.filter((step) => stepRow(step).call !== null));
    // A claim leads a held payment (AUTHORIZED or under review) to a step whose call then runs.
    const claims: readonly { from: readonly PaymentStatus[]; step: PaymentStep; status?: PaymentStatus }[] = Object.values(PAYMENT_STEPS.HOLD_PLACED.claims);
    const runAfterAClaim = new Set(claims.filter((claim) => (claim.status ? [claim.status] : claim.from).some((status) => stepRow(claim.step).runsWhile.includes(status))).map((claim) => claim.step));
    expect(RESUMABLE_SETTLED_STEPS).toEqual(steps.filter((step) => runAfterAClaim.has(step)));
  });
});
