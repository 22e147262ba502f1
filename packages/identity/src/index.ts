/**
 * Identity shared by the gateway and every subgraph: who the viewer is (anonymous, a user with a
 * role, or a service with scopes), how a bearer token becomes a viewer, and the checks resolvers use.
 */
export * from './viewer';
export * from './tokens';
export * from './service-credentials';
export * from './secret-sealer';
export * from './secrets';
export * from './client-address';
