/**
 * Test-only fault injection: a test names a step after which the flow stops as if the process had
 * crashed (the step's effect is durable, the next step never runs). Passed in where the payments
 * service is created (`createPaymentsService({ faults })`); inert without it or unless a test sets it.
 */
export type FlowCheckpoint =
  | 'payment-created'
  | 'risk-called'
  | 'risk-recorded'
  | 'hold-placed'
  | 'hold-recorded'
  | 'capture-posted'
  | 'capture-requested'
  | 'cancel-requested'
  | 'void-posted'
  | 'refund-opened'
  | 'refund-posted';

/**
 * The checkpoints of payOrder (automatic capture, approved), in order: after `hold-placed` the
 * ledger holds and captured the funds in one transaction, and nothing is recorded yet.
 */
export const FLOW_CHECKPOINTS: readonly FlowCheckpoint[] = ['payment-created', 'risk-called', 'risk-recorded', 'hold-placed'];
/** The checkpoints of payOrder with manual capture, in order (then capturePayment's). */
export const MANUAL_FLOW_CHECKPOINTS: readonly FlowCheckpoint[] = ['payment-created', 'risk-called', 'risk-recorded', 'hold-placed', 'hold-recorded'];
/** capturePayment: the claim recorded, then the ledger's capture posted. */
export const CAPTURE_CHECKPOINTS: readonly FlowCheckpoint[] = ['capture-requested', 'capture-posted'];
/** cancelOrder of a held payment: the claim recorded (order canceled), then the ledger's void. */
export const CANCEL_CHECKPOINTS: readonly FlowCheckpoint[] = ['cancel-requested', 'void-posted'];
/** refundPayment: the refund opened, then the ledger's transfer posted. */
export const REFUND_CHECKPOINTS: readonly FlowCheckpoint[] = ['refund-opened', 'refund-posted'];

export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

export interface FaultInjection {
  crashAfter: FlowCheckpoint | null;
}

export const createFaultInjection = (): FaultInjection => ({ crashAfter: null });

export function checkpoint(faults: FaultInjection | undefined, step: FlowCheckpoint): void {
  if (faults?.crashAfter === step) throw new SimulatedCrash(`simulated crash after ${step}`);
}
