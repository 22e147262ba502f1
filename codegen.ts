/**
 * GraphQL Code Generator: typed resolvers for each subgraph from its SDL (federation-aware, with
 * mappers to the store's row types), and typed operations for every service-to-service port (what
 * a caller sends, validated against and typed from the callee's SDL). Output is regenerated, never
 * committed: `npm run codegen`, which `npm run typecheck` runs first.
 */
import { readFileSync } from 'node:fs';
import type { CodegenConfig } from '@graphql-codegen/cli';

const scalars = { DateTime: 'Date', Amount: 'bigint', Currency: 'string' };

/** The SDL every subgraph shares (scalars, Money, MoneyInput, PageInfo), read with each subgraph's schema. */
const PRELUDE = 'packages/scalars/prelude.graphql';

function subgraph(name: string, mappers: Record<string, string>): CodegenConfig['generates'] {
  return {
    [`subgraphs/${name}/src/generated/resolvers-types.ts`]: {
      schema: [PRELUDE, `subgraphs/${name}/src/schema.graphql`],
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        federation: true,
        contextType: '../context#Context',
        mappers,
        scalars,
        enumsAsTypes: true,
        useTypeImports: true,
        avoidOptionals: { field: true, inputValue: false, object: false, defaultValue: false },
        maybeValue: 'T | null',
        inputMaybeValue: 'T | null | undefined',
      },
    },
  };
}

/**
 * The operations `caller` sends to `callee` (`subgraphs/<caller>/src/ports/<callee>.graphql`, or a
 * package's `src/ports/`), validated against the callee's schema and typed as the callee answers
 * them over the wire (Amount and DateTime are strings there): result and variables types plus a
 * typed document string per operation, for the service client's ports.
 */
function port(caller: string, callee: string): CodegenConfig['generates'] {
  const schema = `subgraphs/${callee}/src/schema.graphql`;
  // Federation gives every subgraph a Query type (`_service`); a callee that declares none (auth
  // has mutations only) gets that one here, so its operations validate.
  const declaresQuery = /^\s*(extend\s+)?type\s+Query\b/m.test(readFileSync(schema, 'utf8'));
  return {
    [`${caller}/src/generated/${callee}-operations.ts`]: {
      schema: [PRELUDE, schema, ...(declaresQuery ? [] : ['type Query { _service: _Service! } type _Service { sdl: String }'])],
      documents: `${caller}/src/ports/${callee}.graphql`,
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        documentMode: 'string',
        scalars: { DateTime: 'string', Amount: 'string', Currency: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  };
}

const config: CodegenConfig = {
  overwrite: true,
  silent: true,
  generates: {
    ...subgraph('users', { User: '../db/schema#UserRow' }),
    ...subgraph('auth', { AuthPayload: '../domain/session#IssuedSession', User: '../domain/session#UserReference' }),
    ...subgraph('ledger', {
      Wallet: '../db/schema#AccountRow',
      LedgerAccount: '../db/schema#AccountRow',
      LedgerEntry: '../db/schema#EntryRow',
      LedgerTransaction: '../store/ledger-store#PostedTransaction',
      Hold: '../db/schema#HoldRow',
    }),
    ...subgraph('risk', {
      RiskAssessment: '../db/schema#AssessmentRow',
      Payment: '../resolvers/mappers#PaymentReference',
      RiskRuleSet: '../db/schema#RuleSetRow',
      BlocklistEntry: '../db/schema#BlocklistRow',
    }),
    ...subgraph('payments', {
      Order: '../db/schema#OrderRow',
      Payment: '../db/schema#PaymentRow',
      Refund: '../db/schema#RefundRow',
      User: '../resolvers/mappers#UserReference',
    }),
    ...subgraph('wallet', { Wallet: '../db/schema#WalletRow', User: '../resolvers/mappers#UserReference' }),
    ...subgraph('notifications', {
      Notification: '../db/schema#NotificationRow',
      NotificationPreferences: '../resolvers/mappers#PreferencesView',
      WebhookEndpoint: '../resolvers/mappers#WebhookEndpointView',
      WebhookDelivery: '../db/schema#DeliveryRow',
      DeliveryAttempt: '../db/schema#DeliveryAttemptRow',
    }),
    ...port('subgraphs/wallet', 'ledger'),
    ...port('subgraphs/payments', 'ledger'),
    ...port('subgraphs/payments', 'risk'),
    ...port('subgraphs/payments', 'wallet'),
    ...port('subgraphs/payments', 'users'),
    ...port('subgraphs/users', 'auth'),
    ...port('subgraphs/auth', 'users'),
    ...port('subgraphs/risk', 'users'),
    ...port('subgraphs/notifications', 'users'),
    ...port('packages/audit', 'users'),
    ...port('gateway', 'payments'),
  },
};

export default config;
