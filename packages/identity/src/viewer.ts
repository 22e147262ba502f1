import { forbidden, unauthenticated } from '@paygraph/errors';

export const USER_ROLES = ['BUYER', 'MERCHANT', 'ADMIN'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export type Viewer =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string; role: UserRole }
  | { kind: 'service'; service: string; scopes: ReadonlySet<string> };

export type UserViewer = Extract<Viewer, { kind: 'user' }>;
export type ServiceViewer = Extract<Viewer, { kind: 'service' }>;

export const ANONYMOUS: Viewer = { kind: 'anonymous' };

/** The viewer must be a logged-in user. */
export function requireUser(viewer: Viewer): UserViewer {
  if (viewer.kind !== 'user') throw unauthenticated();
  return viewer;
}

/** A logged-in user or a service; anonymous callers get UNAUTHENTICATED. */
export function requireAuthenticated(viewer: Viewer): UserViewer | ServiceViewer {
  if (viewer.kind === 'anonymous') throw unauthenticated();
  return viewer;
}

export function requireRole(viewer: Viewer, ...roles: UserRole[]): UserViewer {
  const user = requireUser(viewer);
  if (!roles.includes(user.role)) throw forbidden();
  return user;
}

export function isAdmin(viewer: Viewer): boolean {
  return viewer.kind === 'user' && viewer.role === 'ADMIN';
}

export function hasScope(viewer: Viewer, scope: string): boolean {
  return viewer.kind === 'service' && viewer.scopes.has(scope);
}

/** Service-only operations: anonymous is UNAUTHENTICATED, users and unscoped services FORBIDDEN. */
export function requireScope(viewer: Viewer, scope: string): ServiceViewer {
  if (viewer.kind === 'anonymous') throw unauthenticated();
  if (!hasScope(viewer, scope)) throw forbidden();
  return viewer as ServiceViewer;
}

/** An admin user, or a service holding `scope`. */
export function requireAdminOrScope(viewer: Viewer, scope: string): void {
  if (viewer.kind === 'anonymous') throw unauthenticated();
  if (isAdmin(viewer) || hasScope(viewer, scope)) return;
  throw forbidden();
}
