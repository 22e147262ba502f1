/** True for a unique-constraint violation (SQLSTATE 23505), optionally on a named constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const candidates = [error, (error as { cause?: unknown } | null)?.cause];
  return candidates.some((candidate) => {
    if (!candidate || typeof candidate !== 'object') return false;
    const record = candidate as { code?: unknown; constraint?: unknown; constraint_name?: unknown };
    if (record.code !== '23505') return false;
    if (constraint === undefined) return true;
    return record.constraint === constraint || record.constraint_name === constraint;
  });
}

/** True for a CHECK constraint violation (SQLSTATE 23514), optionally on a named constraint. */
export function isCheckViolation(error: unknown, constraint?: string): boolean {
  const candidates = [error, (error as { cause?: unknown } | null)?.cause];
  return candidates.some((candidate) => {
    const record = candidate as { code?: unknown; constraint?: unknown; constraint_name?: unknown } | null;
    if (!record || record.code !== '23514') return false;
    return constraint === undefined || record.constraint === constraint || record.constraint_name === constraint;
  });
}
