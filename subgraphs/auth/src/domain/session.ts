import type { UserRole } from '@paygraph/identity';

/** The user fields auth provides in an AuthPayload, fetched from the users service. */
export interface UserReference {
  id: string;
  email: string | null;
  name: string;
  role: UserRole;
  createdAt: Date;
}

export interface IssuedSession {
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
  user: UserReference;
}
