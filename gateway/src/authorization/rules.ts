/**
 * The authorization rules of the supergraph: `@authenticated`, `@requiresScopes` and `@policy`
 * (Federation 2.5) as composition writes them on fields and types of the supergraph SDL, and how
 * a viewer satisfies them. Scopes come from the token: a user holds `role:<role>` (`role:admin`,
 * `role:merchant`, `role:buyer`); a service holds the scopes of its credential. Policies are
 * named checks evaluated here (`merchant`: a merchant or an admin); an unknown policy fails closed.
 */
import { Kind, parse, type ConstDirectiveNode, type ConstValueNode, type DocumentNode } from 'graphql';
import type { Viewer } from '@paygraph/identity';

export interface Requirement {
  authenticated: boolean;
  /** Any one inner list satisfied in full (OR of ANDs), as the Router reads it. */
  scopes: string[][] | null;
  policies: string[][] | null;
}

export interface AuthorizationRules {
  /** The requirement of `Type.field` merged with that of the field's own type, or null. */
  field(parentType: string, fieldName: string, returnType: string): Requirement | null;
  readonly empty: boolean;
}

/** Named policies of `@policy`: who passes each. */
export const POLICIES: Readonly<Record<string, (viewer: Viewer) => boolean>> = {
  merchant: (viewer) => viewer.kind === 'user' && (viewer.role === 'MERCHANT' || viewer.role === 'ADMIN'),
};

/** The links whose `for: SECURITY` Apollo Gateway refuses because it does not enforce them. */
const SECURITY_LINK = /(@link\(url: "https:\/\/specs\.apollo\.dev\/(?:authenticated|requiresScopes|policy)\/v0\.\d+"), for: SECURITY\)/g;

/**
 * The supergraph as Apollo Gateway will load it: identical except that the authorization specs'
 * links lose `for: SECURITY` (the gateway refuses security features it does not enforce; this
 * gateway enforces them in the authorization plugin, which reads the directives from this SDL).
 */
export function supergraphForGateway(supergraphSdl: string): string {
  return supergraphSdl.replace(SECURITY_LINK, '$1)');
}

function stringLists(value: ConstValueNode | undefined): string[][] {
  if (!value || value.kind !== Kind.LIST) return [];
  return value.values.map((inner) => (inner.kind === Kind.LIST ? inner.values.flatMap((item) => (item.kind === Kind.STRING ? [item.value] : [])) : []));
}

function requirementOf(directives: readonly ConstDirectiveNode[] | undefined): Requirement | null {
  let requirement: Requirement | null = null;
  for (const directive of directives ?? []) {
    const name = directive.name.value;
    if (name !== 'authenticated' && name !== 'requiresScopes' && name !== 'policy') continue;
    requirement ??= { authenticated: false, scopes: null, policies: null };
    if (name === 'authenticated') requirement.authenticated = true;
    const argument = directive.arguments?.[0]?.value;
    if (name === 'requiresScopes') requirement.scopes = [...(requirement.scopes ?? []), ...stringLists(argument)];
    if (name === 'policy') requirement.policies = [...(requirement.policies ?? []), ...stringLists(argument)];
  }
  return requirement;
}

function merge(first: Requirement | null, second: Requirement | null): Requirement | null {
  if (!first) return second;
  if (!second) return first;
  return {
    authenticated: first.authenticated || second.authenticated,
    scopes: first.scopes && second.scopes ? first.scopes.flatMap((a) => second.scopes!.map((b) => [...a, ...b])) : (first.scopes ?? second.scopes),
    policies: first.policies && second.policies ? first.policies.flatMap((a) => second.policies!.map((b) => [...a, ...b])) : (first.policies ?? second.policies),
  };
}

export function parseAuthorizationRules(supergraphSdl: string | DocumentNode): AuthorizationRules {
  const document = typeof supergraphSdl === 'string' ? parse(supergraphSdl) : supergraphSdl;
  const fields = new Map<string, Requirement>();
  const types = new Map<string, Requirement>();
  for (const definition of document.definitions) {
    if (!('name' in definition) || !definition.name) continue;
    const typeName = definition.name.value;
    if (definition.kind === Kind.OBJECT_TYPE_DEFINITION || definition.kind === Kind.INTERFACE_TYPE_DEFINITION || definition.kind === Kind.OBJECT_TYPE_EXTENSION || definition.kind === Kind.INTERFACE_TYPE_EXTENSION) {
      for (const field of definition.fields ?? []) {
        const requirement = requirementOf(field.directives);
        if (requirement) fields.set(`${typeName}.${field.name.value}`, requirement);
      }
    }
    if ('directives' in definition) {
      const requirement = requirementOf(definition.directives as readonly ConstDirectiveNode[] | undefined);
      if (requirement) types.set(typeName, merge(types.get(typeName) ?? null, requirement)!);
    }
  }
  return {
    empty: fields.size === 0 && types.size === 0,
    field: (parentType, fieldName, returnType) => merge(merge(types.get(parentType) ?? null, fields.get(`${parentType}.${fieldName}`) ?? null), types.get(returnType) ?? null),
  };
}

export function scopesOf(viewer: Viewer): ReadonlySet<string> {
  if (viewer.kind === 'user') return new Set([`role:${viewer.role.toLowerCase()}`]);
  if (viewer.kind === 'service') return viewer.scopes;
  return new Set();
}

export type Decision = 'allowed' | 'UNAUTHENTICATED' | 'FORBIDDEN';

/** Whether `viewer` meets `requirement`; an anonymous viewer failing any of it is UNAUTHENTICATED. */
export function decide(requirement: Requirement, viewer: Viewer): Decision {
  const anonymous = viewer.kind === 'anonymous';
  if (requirement.authenticated && anonymous) return 'UNAUTHENTICATED';
  if (requirement.scopes) {
    const held = scopesOf(viewer);
    if (!requirement.scopes.some((all) => all.every((scope) => held.has(scope)))) return anonymous ? 'UNAUTHENTICATED' : 'FORBIDDEN';
  }
  if (requirement.policies) {
    if (!requirement.policies.some((all) => all.every((policy) => POLICIES[policy]?.(viewer) === true))) return anonymous ? 'UNAUTHENTICATED' : 'FORBIDDEN';
  }
  return 'allowed';
}
