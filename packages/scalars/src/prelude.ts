/**
 * The SDL prelude (../prelude.graphql): the definitions every subgraph shares, kept once. A
 * subgraph's SDL is read with the prelude definitions it references (directly or through another
 * prelude type), so each subgraph's schema, and the composed supergraph, hold exactly the types
 * they held when each file carried its own copy.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Kind, parse, visit, type DefinitionNode, type DocumentNode } from 'graphql';

/** Where the prelude lives (codegen.ts lists it beside each subgraph's schema). */
export const PRELUDE_FILE = fileURLToPath(new URL('../prelude.graphql', import.meta.url));

type NamedDefinition = DefinitionNode & { name: { value: string } };

const preludeDefinitions = new Map(
  parse(readFileSync(PRELUDE_FILE, 'utf8')).definitions.map((definition) => [(definition as NamedDefinition).name.value, definition] as const),
);

/** Type names a node refers to (field types, arguments, implemented interfaces, union members). */
function referencedTypes(node: DocumentNode | DefinitionNode): Set<string> {
  const names = new Set<string>();
  visit(node, {
    NamedType(named) {
      names.add(named.name.value);
    },
  });
  return names;
}

/** The subgraph SDL with the prelude definitions it uses prepended; a redefinition is refused. */
export function withPrelude(sdl: string): DocumentNode {
  const document = parse(sdl);
  const defined = new Set(document.definitions.filter((definition) => 'name' in definition && definition.name).map((definition) => (definition as NamedDefinition).name.value));
  for (const name of defined) {
    if (preludeDefinitions.has(name)) throw new Error(`${name} is defined in the SDL prelude (packages/scalars/prelude.graphql): remove it from the subgraph's schema`);
  }
  const needed = new Set<string>();
  const pending = [...referencedTypes(document)];
  while (pending.length > 0) {
    const name = pending.pop()!;
    const definition = preludeDefinitions.get(name);
    if (!definition || needed.has(name)) continue;
    needed.add(name);
    pending.push(...referencedTypes(definition));
  }
  const prelude = [...preludeDefinitions].filter(([name]) => needed.has(name)).map(([, definition]) => definition);
  return { kind: Kind.DOCUMENT, definitions: [...prelude, ...document.definitions] };
}
