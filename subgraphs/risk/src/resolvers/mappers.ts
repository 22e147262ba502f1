import type { RuleSetRow } from '../db/schema';

/** A Payment as risk knows it: only its key. */
export interface PaymentReference {
  id: string;
}

export type RuleSetMapper = RuleSetRow;
