/**
 * DataLoaders for the lookups federation fans out: one query per batch of keys, answers in key
 * order. Create them per request (their cache must not outlive the viewer's permissions).
 */
import DataLoader from 'dataloader';

/** At most one row per key; a missing key resolves to null. */
export function rowLoader<TKey, TRow>(fetch: (keys: readonly TKey[]) => Promise<TRow[]>, keyOf: (row: TRow) => TKey | null): DataLoader<TKey, TRow | null> {
  return new DataLoader(async (keys) => {
    const byKey = new Map<TKey, TRow>();
    for (const row of await fetch(keys)) {
      const key = keyOf(row);
      if (key !== null) byKey.set(key, row);
    }
    return keys.map((key) => byKey.get(key) ?? null);
  });
}

/** Any number of rows per key, in the order the fetch returned them. */
export function groupLoader<TKey, TRow>(fetch: (keys: readonly TKey[]) => Promise<TRow[]>, keyOf: (row: TRow) => TKey): DataLoader<TKey, TRow[]> {
  return new DataLoader(async (keys) => {
    const byKey = new Map<TKey, TRow[]>(keys.map((key) => [key, []]));
    for (const row of await fetch(keys)) byKey.get(keyOf(row))?.push(row);
    return keys.map((key) => byKey.get(key) ?? []);
  });
}
