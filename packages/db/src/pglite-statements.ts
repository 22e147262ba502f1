import { parse as results, protocol, type PGlite, type QueryOptions, type Results, type Transaction } from '@electric-sql/pglite';
import type { RawTransaction, SqlRunner } from './raw';

/**
 * The hand-written SQL path on PGlite as named prepared statements, each execution one call into
 * the database.
 *
 * PGlite's own `query()` makes six calls into the WebAssembly backend per statement (Parse,
 * Describe statement, Bind, Describe portal, Execute, Sync, each awaited) and parses, analyses and
 * plans the text every time. Here a statement text is parsed once per PGlite instance under a name
 * (its parameter types described in the same call), and every execution is Bind, Describe portal,
 * Execute and Sync in one message: the backend handles the whole pipeline in one pass and reuses
 * the statement (and, after five runs, a generic plan when PostgreSQL finds it no worse), as
 * postgres.js does on a server. Parameters are serialised and rows parsed by PGlite's own
 * serializers and parsers for the types the backend described, so results are the same as
 * `query()`'s. A failure throws PGlite's DatabaseError (with its SQLSTATE `code`), as `query()`.
 *
 * Callers hold PGlite's query lock around `run` (see `open.ts`): one exchange at a time.
 */

/** Named statements kept per PGlite instance; texts beyond it run unnamed (parsed each time). */
export const PGLITE_STATEMENTS_MAX = 500;

/** Texts seen once and not named yet, remembered until this many (then forgotten together). */
const SEEN_ONCE_MAX = 2_000;

interface Statement {
  /** '' for the unnamed statement (parsed again on every run). */
  readonly name: string;
  /** The parameter types the backend described, in order. */
  readonly types: readonly number[];
}

/** What PGlite's query() takes that this path honours: how rows come back and how values go in. */
export type PgliteQueryOptions = Pick<QueryOptions, 'rowMode' | 'parsers' | 'serializers'>;

const { serialize } = protocol;

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const message = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    message.set(part, offset);
    offset += part.length;
  }
  return message;
}

const SYNC = serialize.sync();
const DESCRIBE_PORTAL = serialize.describe({ type: 'P' });
const EXECUTE = serialize.execute({});

/** Statement names are unique in the process, so two sets on one instance never collide. */
let named = 0;

export class PgliteStatements {
  readonly #client: PGlite;
  readonly #statements = new Map<string, Statement>();
  /** A text is named on its second run: one-off texts (migrations, ad hoc reads) never take a name. */
  readonly #seenOnce = new Set<string>();

  constructor(client: PGlite) {
    this.#client = client;
  }

  /** Named statements held (for tests). */
  get size(): number {
    return this.#statements.size;
  }

  async #prepare(text: string): Promise<Statement> {
    let name = '';
    if (this.#statements.size < PGLITE_STATEMENTS_MAX) {
      if (this.#seenOnce.delete(text)) name = `paygraph_${++named}`;
      else {
        if (this.#seenOnce.size >= SEEN_ONCE_MAX) this.#seenOnce.clear();
        this.#seenOnce.add(text);
      }
    }
    const messages = await this.#client.execProtocolStream(concat([serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), SYNC]), {
      syncToFs: false,
    });
    const statement: Statement = { name, types: results.parseDescribeStatementResults(messages) };
    // Only a statement the backend parsed is kept (a failed Parse threw above).
    if (name) this.#statements.set(text, statement);
    return statement;
  }

  /** Runs one statement and returns its rows; call it under PGlite's query lock. */
  async run<T>(text: string, params: readonly unknown[]): Promise<T[]> {
    return (await this.result<T>(text, params)).rows;
  }

  /** Runs one statement and returns what PGlite's query() returns; call it under PGlite's query lock. */
  async result<T>(text: string, params: readonly unknown[], options?: PgliteQueryOptions): Promise<Results<T>> {
    const statement = this.#statements.get(text) ?? (await this.#prepare(text));
    if (params.length !== statement.types.length) {
      throw new Error(`bind message supplies ${params.length} parameters, but the statement requires ${statement.types.length}`);
    }
    const values = params.map((value, index) => {
      if (value === null || value === undefined) return null;
      const type = statement.types[index]!;
      const serializer = options?.serializers?.[type] ?? this.#client.serializers[type];
      return serializer ? serializer(value) : String(value);
    });
    let messages;
    try {
      messages = await this.#client.execProtocolStream(concat([serialize.bind({ statement: statement.name, values }), DESCRIBE_PORTAL, EXECUTE, SYNC]), {
        syncToFs: false,
      });
    } catch (error) {
      // A table changed under the statement so that its rows would change shape ("cached plan must
      // not change result type"): this run fails, as a statement on postgres.js does; the next one
      // parses the text again under a new name.
      if ((error as { code?: unknown }).code === '0A000' && statement.name) this.#statements.delete(text);
      throw error;
    }
    return results.parseResults(messages, this.#client.parsers, options)[0] as Results<T>;
  }
}

const statementsByClient = new WeakMap<PGlite, PgliteStatements>();

/** The one set of named statements of a PGlite instance (statement names are per session). */
export function pgliteStatements(client: PGlite): PgliteStatements {
  let statements = statementsByClient.get(client);
  if (!statements) {
    statements = new PgliteStatements(client);
    statementsByClient.set(client, statements);
  }
  return statements;
}

/**
 * `RawTransaction` and `query` on a PGlite instance through its named statements. Both take the
 * locks PGlite's own `transaction()` and `query()` take, so they interleave with drizzle's use of
 * the same instance as PGlite's calls do; `onStatement` is called once per statement run.
 */
export function pgliteRunners(client: PGlite, onStatement: () => void): { transaction: RawTransaction; query: SqlRunner['query'] } {
  const statements = pgliteStatements(client);
  const run = <T>(text: string, params: readonly unknown[]) => client._runExclusiveQuery(() => statements.run<T>(text, params));
  return {
    transaction: (work) =>
      client.transaction(async () => {
        // PGlite commits when this function returns: what was sent is awaited first (in process, no round trip to save).
        let open = true;
        const sent: Promise<unknown>[] = [];
        const runInside = <T>(text: string, params: readonly unknown[]) => {
          // As PGlite's own transaction object: nothing runs after its COMMIT or ROLLBACK.
          if (!open) return Promise.reject(new Error('Transaction is closed'));
          onStatement();
          return run<T>(text, params);
        };
        try {
          let result;
          try {
            result = await work({
              query: (text, params = []) => runInside(text, params),
              send: (text, params = []) => {
                const statement = runInside(text, params);
                statement.catch(() => {}); // observed below
                sent.push(statement);
              },
            });
          } catch (error) {
            // A later statement that ran into an aborted transaction (25P02) reports the sent one's failure, as postgres.js does.
            const failed = (await Promise.allSettled(sent)).find((outcome) => outcome.status === 'rejected');
            throw failed ? failed.reason : error;
          }
          await Promise.all(sent);
          return result;
        } finally {
          open = false;
        }
      }),
    query: async <T>(text: string, params: readonly unknown[] = []) => {
      await client._checkReady();
      onStatement();
      // As PGlite's query(): outside any transaction, written through to the file system after.
      const rows = await client._runExclusiveTransaction(() => run<T>(text, params));
      await client.syncToFs();
      return rows;
    },
  };
}

type QueryFunction = <T>(text: string, params?: unknown[], options?: QueryOptions) => Promise<Results<T>>;

/**
 * The PGlite instance as drizzle sees it: `query()` and the transaction object's `query()` run
 * through the named statements, with drizzle's row mode and parsers; everything else is PGlite's.
 * drizzle's PGlite session calls nothing but `query()` and `transaction()` on it.
 */
export function pgliteForDrizzle(client: PGlite): PGlite {
  const statements = pgliteStatements(client);
  const query: QueryFunction = async <T>(text: string, params: unknown[] = [], options?: QueryOptions) => {
    await client._checkReady();
    const result = await client._runExclusiveTransaction(() => client._runExclusiveQuery(() => statements.result<T>(text, params, options)));
    await client.syncToFs();
    return result;
  };
  const transaction = <T>(callback: (tx: Transaction) => Promise<T>) =>
    client.transaction((tx) => {
      const inside: QueryFunction = <R>(text: string, params: unknown[] = [], options?: QueryOptions) => {
        if (tx.closed) return Promise.reject(new Error('Transaction is closed'));
        return client._runExclusiveQuery(() => statements.result<R>(text, params, options));
      };
      // The transaction object's other members (sql, exec, rollback, closed) stay PGlite's own.
      return callback(Object.assign(Object.create(tx) as Transaction, { query: inside }));
    });
  // Any other member is the instance's own, bound to it (PGlite keeps its state in private fields).
  return new Proxy(client, {
    get(target, key) {
      if (key === 'query') return query;
      if (key === 'transaction') return transaction;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
