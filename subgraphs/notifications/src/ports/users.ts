/**
 * Notifications' port to users: who a recipient is (email, name, role), typed from users' schema.
 * An id users refuses as malformed, or does not know, is nobody to notify (retrying would not
 * change it); any other refusal is a broken contract: an internal error, and the event comes again.
 */
import { createPort, translations, type ServiceClient } from '@paygraph/service-client';
import { NotificationRecipientDocument, type NotificationRecipientQuery } from '../generated/users-operations';

export type Recipient = NonNullable<NotificationRecipientQuery['user']>;

export async function recipientOf(client: ServiceClient, userId: string): Promise<Recipient | null> {
  const port = createPort({ client, service: 'users' });
  const answer = await port.call(NotificationRecipientDocument, { id: userId }, { translate: { BAD_USER_INPUT: translations.outcome(null), NOT_FOUND: translations.outcome(null) } });
  return answer?.user ?? null;
}
