import { randomBytes } from 'node:crypto';
import { parse as results, protocol, type PGlite, type QueryOptions, type Results, type Transaction } from '@electric-sql/pglite';
import type { RawTransaction, SqlRunner } from './raw';

/**
 * Statements on embedded PGlite as named prepared statements, each run one call into the database:
 * the hand-written SQL path (`pgliteRunners`) and drizzle (`pgliteForDrizzle`) alike.
 *
 * PGlite's own `query()` makes six calls into the WebAssembly backend per statement (Parse,
 * Describe statement, Bind, Describe portal, Execute, Sync, each awaited) and parses, analyses and
 * plans the text every time. Here a text that runs a second time is parsed under a name (its
 * parameter types described in the same call), and every run is Bind, Describe portal, Execute and
 * Sync in one message: the backend handles the whole pipeline in one pass and reuses the statement
 * (and, after five runs, a generic plan when PostgreSQL finds it no worse), as postgres.js does on
 * a server. Parameters are serialised and rows parsed by PGlite's own serializers and parsers for
 * the types the backend described, so results are the same as `query()`'s. A failure throws
 * PGlite's DatabaseError (with its SQLSTATE `code`), as `query()`.
 *
 * `PgliteStatements.run`/`result` expect PGlite's query lock held (one exchange at a time);
 * `runAlone` and `runIn` below take the locks PGlite's `query()` and transaction object take.
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

const HONOURED_OPTIONS: ReadonlySet<string> = new Set<keyof PgliteQueryOptions>(['rowMode', 'parsers', 'serializers']);

/** True when every option given is one this path honours (undefined ones count as not given). */
function honoured(options: QueryOptions | undefined): boolean {
  if (!options) return true;
  return Object.entries(options).every(([key, value]) => value === undefined || HONOURED_OPTIONS.has(key));
}

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

/**
 * Statement names are unique in the process, and the tag keeps them apart should a second copy of
 * this module (a bundler's, a test runner's) be handed the same instance: two sets never collide.
 */
const tag = randomBytes(4).toString('hex');
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
      if (this.#seenOnce.delete(text)) name = `paygraph_${tag}_${++named}`;
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

/** Outside any transaction, as PGlite's query(): readiness checked, both locks, written through to the file system after. */
async function runAlone<T>(client: PGlite, text: string, params: readonly unknown[], options?: PgliteQueryOptions): Promise<Results<T>> {
  await client._checkReady();
  const statements = pgliteStatements(client);
  const result = await client._runExclusiveTransaction(() => client._runExclusiveQuery(() => statements.result<T>(text, params, options)));
  await client.syncToFs();
  return result;
}

/** Inside PGlite's transaction `tx`, as its own query(): refused once the transaction ended. */
function runIn<T>(client: PGlite, tx: Transaction, text: string, params: readonly unknown[], options?: PgliteQueryOptions): Promise<Results<T>> {
  if (tx.closed) return Promise.reject(new Error('Transaction is closed'));
  const statements = pgliteStatements(client);
  return client._runExclusiveQuery(() => statements.result<T>(text, params, options));
}

/**
 * `RawTransaction` and `query` on a PGlite instance through its named statements, taking the locks
 * PGlite's own `transaction()` and `query()` take, so they interleave with drizzle's use of the
 * same instance as PGlite's calls do; `onStatement` is called once per statement run.
 */
export function pgliteRunners(client: PGlite, onStatement: () => void): { transaction: RawTransaction; query: SqlRunner['query'] } {
  return {
    transaction: (work) =>
      client.transaction(async (tx) => {
        // PGlite commits when this function returns: what was sent is awaited first (in process, no round trip to save).
        const sent: Promise<unknown>[] = [];
        const rows = async <T>(text: string, params: readonly unknown[]) => {
          onStatement();
          return (await runIn<T>(client, tx, text, params)).rows;
        };
        let result;
        try {
          result = await work({
            query: (text, params = []) => rows(text, params),
            send: (text, params = []) => {
              const statement = rows(text, params);
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
      }),
    query: async <T>(text: string, params: readonly unknown[] = []) => {
      onStatement();
      return (await runAlone<T>(client, text, params)).rows;
    },
  };
}

/**
 * The PGlite instance as drizzle sees it: `query()` and the transaction object's `query()` run
 * through the named statements, with drizzle's row mode and parsers; everything else is PGlite's.
 * drizzle's PGlite session calls nothing but `query()` and `transaction()` on it.
 */
export function pgliteForDrizzle(client: PGlite): PGlite {
  // An option this path does not honour (paramTypes, blob, onNotice...) goes to PGlite's own query(), never ignored.
  const query = <T>(text: string, params: unknown[] = [], options?: QueryOptions) =>
    honoured(options) ? runAlone<T>(client, text, params, options) : client.query<T>(text, params, options);
  const transaction = <T>(callback: (tx: Transaction) => Promise<T>) =>
    client.transaction((tx) => {
      const inside = <R>(text: string, params: unknown[] = [], options?: QueryOptions) =>
        honoured(options) ? runIn<R>(client, tx, text, params, options) : tx.query<R>(text, params, options);
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
