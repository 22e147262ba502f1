/**
 * A small bounded cache of promises with a time to live, for facts another service owns that
 * change rarely or never (a wallet's account id, a user's role or sign-up date). Failed lookups are
 * not kept. Bounded: when full, the oldest entries go first.
 */
export interface LookupCache<V> {
  get(key: string, load: () => Promise<V>): Promise<V>;
  delete(key: string): void;
}

export function lookupCache<V>(options: { ttlMs: number; entriesMax: number }): LookupCache<V> {
  const entries = new Map<string, { value: Promise<V>; expiresAt: number }>();
  return {
    get(key, load) {
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.expiresAt > now) return hit.value;
      if (entries.size >= options.entriesMax) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      const value = load();
      entries.set(key, { value, expiresAt: now + options.ttlMs });
      value.catch(() => entries.delete(key));
      return value;
    },
    delete: (key) => void entries.delete(key),
  };
}
