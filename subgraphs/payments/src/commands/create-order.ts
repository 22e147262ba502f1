/** createOrder: a PENDING order from the viewer (the buyer) to a merchant. */
import { badUserInput } from '@paygraph/errors';
import { requireUser, type Viewer } from '@paygraph/identity';
import { assertMovableAmount, type Money } from '@paygraph/money';
import type { OrderRow } from '../db/schema';
import type { FlowDeps } from '../deps';
import * as services from '../services';

export const DESCRIPTION_LENGTH_MAX = 500;

export async function createOrder(deps: FlowDeps, viewer: Viewer, input: { merchantId: string; amount: Money; description?: string | null }): Promise<OrderRow> {
  const buyer = requireUser(viewer);
  const amount = assertMovableAmount(input.amount, 'input.amount');
  const description = input.description ?? null;
  if (description !== null && description.length > DESCRIPTION_LENGTH_MAX) throw badUserInput(`Description must be at most ${DESCRIPTION_LENGTH_MAX} characters`, 'input.description');
  if ((await services.userRole(deps.services, input.merchantId)) !== 'MERCHANT') throw badUserInput('merchantId must name a user with the MERCHANT role', 'input.merchantId');
  return deps.store.createOrder({ buyerId: buyer.userId, merchantId: input.merchantId, amount: amount.amount, currency: amount.currency, description });
}
