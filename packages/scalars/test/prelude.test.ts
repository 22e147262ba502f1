// Proves the SDL prelude is read as each subgraph needs it: a schema gets exactly the prelude
// definitions it references (directly or through another prelude type, e.g. Money's Amount), a
// schema that defines a prelude type again is refused, and no subgraph schema carries a copy.
import { readFileSync } from 'node:fs';
import { Kind, print, type DefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { loadServiceList } from '@paygraph/config';
import { withPrelude } from '../src/prelude';

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@shareable"])';
const names = (definitions: readonly DefinitionNode[]) => definitions.flatMap((definition) => ('name' in definition && definition.name ? [definition.name.value] : []));

describe('withPrelude', () => {
  it('adds the prelude definitions a schema references, with what they reference, and nothing else', () => {
    const document = withPrelude(`${LINK}\ntype Query { price: Money! at: DateTime }`);
    expect(names(document.definitions).sort()).toEqual(['Amount', 'Currency', 'DateTime', 'Money', 'Query']);
    expect(print(document)).toContain('"An amount of money: integer minor units and a currency."');
  });

  it('adds nothing to a schema that uses no prelude type', () => {
    const document = withPrelude(`${LINK}\ntype Query { ok: Boolean }`);
    expect(names(document.definitions)).toEqual(['Query']);
    expect(document.definitions[0]!.kind).toBe(Kind.SCHEMA_EXTENSION);
  });

  it('refuses a schema that defines a prelude type again', () => {
    expect(() => withPrelude(`${LINK}\nscalar Amount\ntype Query { a: Amount }`)).toThrow(/Amount is defined in the SDL prelude/);
  });

  it.each(loadServiceList({}).map((service) => [service.name, service.schemaFile] as const))('reads subgraph %s without a copy of the prelude', (_name, schemaFile) => {
    const document = withPrelude(readFileSync(schemaFile, 'utf8'));
    const all = names(document.definitions);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toContain('DateTime');
  });
});
