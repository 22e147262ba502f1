/**
 * Risk's port to users: what risk learns about a buyer (account age, email domains), typed from
 * users' schema. An id users does not know is no buyer (assess answers with its own NOT_FOUND on
 * input.userId); one it refuses as malformed is BAD_USER_INPUT on assess's input.userId; any other
 * refusal is a broken contract: an internal error, which payments fails closed on.
 */
import { badUserInput } from '@paygraph/errors';
import { createPort, translations, type ServiceClient } from '@paygraph/service-client';
import { BuyerDocument, type BuyerQuery } from '../generated/users-operations';

export type Buyer = NonNullable<BuyerQuery['user']>;

export async function buyerOf(client: ServiceClient, userId: string, requestId?: string): Promise<Buyer | null> {
  const port = createPort({ client, service: 'users', callOptions: requestId ? { requestId } : {} });
  const answer = await port.call(BuyerDocument, { id: userId }, { translate: { BAD_USER_INPUT: () => badUserInput('input.userId is not a user id', 'input.userId'), NOT_FOUND: translations.outcome(null) } });
  return answer?.user ?? null;
}
