/** The rows of a raw `db.execute(sql)` result, whichever driver produced it. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

/** Postgres errors worth one more try: serialization failure and deadlock (never shown to clients). */
export function isTransientConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code ?? (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return code === '40001' || code === '40P01';
}

/** Runs `work` again, a bounded number of times, when Postgres reports a transient conflict. */
export async function retryOnConflict<T>(work: () => Promise<T>, attemptsMax = 4): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attemptsMax || !isTransientConflict(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 2 ** attempt + Math.random() * 5));
    }
  }
}
