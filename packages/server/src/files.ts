import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, type DocumentNode } from 'graphql';

/**
 * A subgraph's SDL (`src/schema.graphql`) and migrations folder (`drizzle/`), found from the URL
 * of its `src/server.ts`.
 */
export function subgraphFiles(serverModuleUrl: string): { typeDefs: DocumentNode; migrationsFolder: string } {
  return {
    typeDefs: parse(readFileSync(new URL('./schema.graphql', serverModuleUrl), 'utf8')),
    migrationsFolder: fileURLToPath(new URL('../drizzle', serverModuleUrl)),
  };
}
