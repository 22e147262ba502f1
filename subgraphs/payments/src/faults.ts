/**
 * Test-only fault injection: a test names a step after which the flow stops as if the process had
 * crashed (the step's effect is durable, the next step never runs). Inert unless a test sets it.
 */
export type FlowCheckpoint = 'payment-created' | 'risk-called' | 'risk-recorded' | 'hold-placed' | 'hold-recorded' | 'capture-posted';

export const FLOW_CHECKPOINTS: readonly FlowCheckpoint[] = ['payment-created', 'risk-called', 'risk-recorded', 'hold-placed', 'hold-recorded', 'capture-posted'];

export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

export const faultInjection: { crashAfter: FlowCheckpoint | null } = { crashAfter: null };

export function checkpoint(step: FlowCheckpoint): void {
  if (faultInjection.crashAfter === step) throw new SimulatedCrash(`simulated crash after ${step}`);
}
