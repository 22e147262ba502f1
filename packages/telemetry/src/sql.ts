/**
 * A statement's low-cardinality summary for its span name and `db.query.summary`: the operation and
 * the first table it names (`SELECT payments.payments`, `INSERT payments.outbox_events`), never a
 * parameter value or literal. Statements are fixed texts, so summaries are cached (bounded).
 */
export interface StatementSummary {
  /** `SELECT payments.payments`: the span name and `db.query.summary`. */
  summary: string;
  /** `SELECT`, `INSERT`, `WITH`...: `db.operation.name`. */
  operation: string;
  /** The first table named, when there is one: `db.collection.name`. */
  collection: string | undefined;
}

const SUMMARY_CACHE_MAX = 2_000;
const cache = new Map<string, StatementSummary>();

const OPERATION = /^\s*(?:--[^\n]*\n\s*)*([a-z]+)/i;
/** The first table after FROM, INTO, UPDATE or JOIN, optionally schema-qualified and quoted. */
const TARGET = /\b(?:from|into|update|join)\s+((?:"[^"]+"|[a-z_][\w$]*)(?:\s*\.\s*(?:"[^"]+"|[a-z_][\w$]*))?)/i;

function summarize(text: string): StatementSummary {
  const operation = (OPERATION.exec(text)?.[1] ?? 'SQL').toUpperCase();
  const collection = TARGET.exec(text)?.[1]?.replace(/"/g, '').replace(/\s+/g, '');
  return { summary: collection ? `${operation} ${collection}` : operation, operation, collection };
}

export function statementSummary(text: string): StatementSummary {
  let summary = cache.get(text);
  if (summary) return summary;
  summary = summarize(text);
  if (cache.size >= SUMMARY_CACHE_MAX) cache.clear();
  cache.set(text, summary);
  return summary;
}
