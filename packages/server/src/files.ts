import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DocumentNode } from 'graphql';
import { withPrelude } from '@paygraph/scalars';

/**
 * A subgraph's SDL (`src/schema.graphql` with the SDL prelude it uses) and migrations folder (`drizzle/`), found from the URL
 * of its `src/server.ts`.
 */
export function subgraphFiles(serverModuleUrl: string): { typeDefs: DocumentNode; migrationsFolder: string } {
  return {
    typeDefs: withPrelude(readFileSync(new URL('./schema.graphql', serverModuleUrl), 'utf8')),
    migrationsFolder: fileURLToPath(new URL('../drizzle', serverModuleUrl)),
  };
}
