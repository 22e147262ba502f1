/**
 * The only place with SQL for users. A registration or a change writes its event
 * (`user.registered`, `user.updated`) to the outbox in the same transaction.
 */
import { and, desc, eq, inArray, lt, type SQL } from 'drizzle-orm';
import { appendEvent } from '@paygraph/events';
import { isUniqueViolation, newId, type Database, type RawTransaction, type SqlRunner } from '@paygraph/db';
import { auditEvents, users, type AuditEventRow, type UserRow, type schema } from '../db/schema';

/** One audit record as this service writes it (packages/audit describes the trail). */
export interface AuditRecord {
  /** Given by a recording service that may send the record again (its audit outbox): stored once. */
  id?: string;
  type: string;
  actorId: string | null;
  subjectId?: string | null;
  outcome: 'SUCCESS' | 'FAILURE' | 'DENIED';
  requestId?: string | null;
  service: string;
  details?: string | null;
  /** When the action happened, if before now (a record relayed late); never stored later than now(). */
  occurredAt?: Date | null;
}

/** Appends audit records, inside the caller's transaction when it has one. */
export async function appendAudit(sql: SqlRunner, records: readonly AuditRecord[]): Promise<void> {
  for (const record of records) {
    // A record sent again under the id it already has is the same record: kept once.
    // occurred_at: the given time, but never later than now() (least() ignores a null: now()).
    await sql.query(
      `insert into users.audit_events (id, type, actor_id, subject_id, outcome, request_id, service, details, occurred_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, least($9::timestamptz, now())) on conflict (id) do nothing`,
      [
        record.id ?? newId('aud'),
        record.type,
        record.actorId,
        record.subjectId ?? null,
        record.outcome,
        record.requestId ?? null,
        record.service,
        record.details ?? null,
        // Parameters go as text (packages/db raw.ts), cast in the SQL.
        record.occurredAt ? record.occurredAt.toISOString() : null,
      ],
    );
  }
}

export class EmailTakenError extends Error {}

const USER_COLUMNS = 'id, email, name, role, created_at, updated_at';

function toUser(row: Record<string, unknown>): UserRow {
  const date = (value: unknown) => (value instanceof Date ? value : new Date(String(value)));
  return {
    id: String(row.id),
    email: String(row.email),
    name: String(row.name),
    role: row.role as UserRow['role'],
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
  };
}

/** `previousEmail` (user.updated only): set when the change replaced the email, so notifications tells the old address. */
function emitUserEvent(sql: SqlRunner, type: 'user.registered' | 'user.updated', user: UserRow, version: number, previousEmail: string | null = null) {
  return appendEvent(sql, 'users', {
    aggregateType: 'User',
    aggregateId: user.id,
    aggregateVersion: version,
    type,
    payload: { userId: user.id, email: user.email, name: user.name, role: user.role, ...(previousEmail ? { previousEmail } : {}) },
  });
}

export function createUsersStore(database: { db: Database<typeof schema>; transaction: RawTransaction }) {
  const { db } = database;
  return {
    /** Every email domain the user has had, the current one first (empty when there is no such user). */
    async emailDomainsOf(userId: string): Promise<string[]> {
      const [current] = await db.select({ email: users.email }).from(users).where(eq(users.id, userId));
      if (!current) return [];
      const past = await database.transaction(async (sql) => sql.query<{ email: string }>(`select email from users.email_history where user_id = $1 order by replaced_at desc`, [userId]));
      return [...new Set([current.email, ...past.map((row) => String(row.email))].map(domainOf))];
    },

    /** How many `type` records about `subjectId` the last `windowSeconds` hold, and when the oldest of them leaves the window. */
    async recentAudit(type: string, subjectId: string, windowSeconds: number): Promise<{ count: number; oldestLeavesInSeconds: number }> {
      const [row] = await database.transaction((sql) =>
        sql.query<{ count: string; leaves: string | null }>(
          `select count(*)::text as count, ceil(extract(epoch from (min(occurred_at) + $3::integer * interval '1 second' - now())))::text as leaves
             from users.audit_events where type = $1 and subject_id = $2 and occurred_at > now() - $3::integer * interval '1 second'`,
          [type, subjectId, String(windowSeconds)],
        ),
      );
      return { count: Number(row?.count ?? 0), oldestLeavesInSeconds: Math.max(1, Number(row?.leaves ?? 1)) };
    },

    async appendAudit(records: readonly AuditRecord[]): Promise<void> {
      await database.transaction((sql) => appendAudit(sql, records));
    },

    /** Newest first. */
    async listAudit(filter: { actorId: string | null; type: string | null; beforePosition: bigint | null; limit: number }): Promise<AuditEventRow[]> {
      const conditions: SQL[] = [];
      if (filter.actorId !== null) conditions.push(eq(auditEvents.actorId, filter.actorId));
      if (filter.type !== null) conditions.push(eq(auditEvents.type, filter.type));
      if (filter.beforePosition !== null) conditions.push(lt(auditEvents.position, filter.beforePosition));
      return db
        .select()
        .from(auditEvents)
        .where(conditions.length > 0 ? and(...conditions) : undefined)
        .orderBy(desc(auditEvents.position))
        .limit(filter.limit);
    },

    async findByIds(ids: readonly string[]): Promise<UserRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(users).where(inArray(users.id, [...ids]));
    },

    async findByEmail(email: string): Promise<UserRow | undefined> {
      const [row] = await db.select().from(users).where(eq(users.email, email)).limit(1);
      return row;
    },

    /** `audit`: the sign-up's record, written in the same transaction. */
    async insert(user: Pick<UserRow, 'id' | 'email' | 'name' | 'role'>, audit: readonly AuditRecord[] = []): Promise<UserRow> {
      try {
        return await database.transaction(async (sql) => {
          const [row] = await sql.query(`insert into users.users (id, email, name, role) values ($1, $2, $3, $4::users.user_role) returning ${USER_COLUMNS}`, [user.id, user.email, user.name, user.role]);
          const created = toUser(row!);
          await emitUserEvent(sql, 'user.registered', created, 1);
          await appendAudit(sql, audit);
          return created;
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError();
        throw error;
      }
    },

    /**
     * Changes the name and/or email. A replaced email goes to the history (risk reads it) and
     * into the event as `previousEmail`; `audit(previousEmail)` gives the records to append in the
     * same transaction.
     */
    async update(id: string, changes: Partial<Pick<UserRow, 'email' | 'name'>>, audit: (previousEmail: string | null) => AuditRecord[] = () => []): Promise<UserRow | undefined> {
      try {
        return await database.transaction(async (sql) => {
          const [before] = await sql.query<{ email: string }>(`select email from users.users where id = $1 for update`, [id]);
          if (!before) return undefined;
          const [row] = await sql.query(
            `update users.users set email = coalesce($2, email), name = coalesce($3, name), updated_at = now() where id = $1 returning ${USER_COLUMNS}`,
            [id, changes.email ?? null, changes.name ?? null],
          );
          if (!row) return undefined;
          const updated = toUser(row);
          const previousEmail = String(before.email) !== updated.email ? String(before.email) : null;
          if (previousEmail) await sql.query(`insert into users.email_history (user_id, email) values ($1, $2) on conflict (user_id, email) do update set replaced_at = now()`, [id, previousEmail]);
          // The user's versions follow its events: one registration, then one per change.
          const [last] = await sql.query<{ version: number }>(`select coalesce(max(aggregate_version), 0)::integer as version from users.outbox_events where aggregate_id = $1`, [id]);
          await emitUserEvent(sql, 'user.updated', updated, Number(last?.version ?? 0) + 1, previousEmail);
          await appendAudit(sql, audit(previousEmail));
          return updated;
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError();
        throw error;
      }
    },
  };
}

export type UsersStore = ReturnType<typeof createUsersStore>;

/** The domain of an address (lower-cased already). */
const domainOf = (email: string) => email.slice(email.lastIndexOf('@') + 1);
