/**
 * `npm run compose`: composes schema/supergraph.graphql from the service list with
 * @apollo/composition. Fails on composition errors and on hints that matter. With `--check` it
 * writes nothing and fails when the checked-in file differs (CI).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { loadServiceList, repositoryRoot } from '@paygraph/config';
import { withPrelude } from '@paygraph/scalars';

/** Hints that point at a real mistake rather than a style choice. */
const failingHints = new Set(['INCONSISTENT_ENTITY', 'INCONSISTENT_TYPE_SYSTEM_DIRECTIVE_REPEATABLE', 'INCONSISTENT_DESCRIPTION_OF_FIELD_OR_ARGUMENT']);

type CompositionHint = NonNullable<ReturnType<typeof composeServices>['hints']>[number];

export function composeSupergraph(): { supergraphSdl: string; hints: CompositionHint[] } {
  // Routing URLs in the checked-in file are the service list's, never a developer's overrides. Each
  // schema is read with the SDL prelude it uses (@paygraph/scalars), as the subgraph serves it.
  const services = loadServiceList({});
  const result = composeServices(
    services.map((service) => ({ name: service.name, url: service.url, typeDefs: withPrelude(readFileSync(service.schemaFile, 'utf8')) })),
  );
  if (result.errors) {
    throw new Error(`Composition failed:\n${result.errors.map((error) => `- ${error.message}`).join('\n')}`);
  }
  const bad = result.hints.filter((hint) => failingHints.has(hint.definition.code));
  if (bad.length > 0) throw new Error(`Composition hints that must be fixed:\n${bad.map((hint) => `- ${hint.toString()}`).join('\n')}`);
  return { supergraphSdl: `${result.supergraphSdl.trimEnd()}\n`, hints: result.hints };
}

const target = path.join(repositoryRoot, 'schema/supergraph.graphql');

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const { supergraphSdl, hints } = composeSupergraph();
    for (const hint of hints) console.warn(`hint: ${hint.toString()}`);
    if (process.argv.includes('--check')) {
      const current = readFileSync(target, 'utf8');
      if (current !== supergraphSdl) {
        console.error('schema/supergraph.graphql is stale: run `npm run compose` and commit it.');
        process.exit(1);
      }
      console.log('schema/supergraph.graphql is up to date.');
    } else {
      writeFileSync(target, supergraphSdl);
      console.log(`wrote ${path.relative(process.cwd(), target)}`);
    }
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
