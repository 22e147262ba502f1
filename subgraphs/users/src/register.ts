/**
 * Registration: the user row lives here, the password only in auth. The password goes straight to
 * auth (hashed there) before the user row is written; if the row cannot be written the credential
 * is removed again, so no login exists without a user.
 */
import { badUserInput } from '@paygraph/errors';
import { newId } from '@paygraph/db';
import type { UserRole } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import type { ServiceClient } from '@paygraph/service-client';
import type { UserRow } from './db/schema';
import { normalizeName, normalizeNewEmail } from './domain/validation';
import { authPort } from './ports/auth';
import { EmailTakenError, type UsersStore } from './store/users-store';

export interface Registration {
  email: string;
  password: string;
  name: string;
  role: UserRole;
}

const emailTaken = () => badUserInput('A user with this email already exists', 'input.email');

export async function registerUser(
  deps: { store: UsersStore; auth: ServiceClient; logger: Logger; requestId?: string; actorId?: string | null },
  input: Registration,
): Promise<UserRow> {
  const email = normalizeNewEmail(input.email, 'input.email');
  const name = normalizeName(input.name, 'input.name');
  if (await deps.store.findByEmail(email)) throw emailTaken();

  const id = newId('usr');
  const auth = authPort(deps.auth, deps.requestId);
  await auth.setPassword(id, input.password);
  try {
    // The sign-up's audit record commits with the user: the actor is the admin who created it, else the new user.
    const audit = { type: 'user.registered', actorId: deps.actorId ?? id, subjectId: id, outcome: 'SUCCESS' as const, requestId: deps.requestId ?? null, service: 'users', details: JSON.stringify({ role: input.role }) };
    return await deps.store.insert({ id, email, name, role: input.role }, [audit]);
  } catch (error) {
    await auth.deleteCredential(id).catch((cleanupError: unknown) => {
      deps.logger.error({ err: cleanupError, userId: id }, 'could not remove the credential of a user that was not created');
    });
    if (error instanceof EmailTakenError) throw emailTaken();
    throw error;
  }
}
