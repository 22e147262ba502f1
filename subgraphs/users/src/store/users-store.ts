/**
 * The only place with SQL for users. A registration or a change writes its event
 * (`user.registered`, `user.updated`) to the outbox in the same transaction.
 */
import { eq, inArray } from 'drizzle-orm';
import { appendEvent } from '@paygraph/events';
import { isUniqueViolation, type Database, type RawTransaction, type SqlRunner } from '@paygraph/db';
import { users, type UserRow, type schema } from '../db/schema';

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

function emitUserEvent(sql: SqlRunner, type: 'user.registered' | 'user.updated', user: UserRow, version: number) {
  return appendEvent(sql, 'users', {
    aggregateType: 'User',
    aggregateId: user.id,
    aggregateVersion: version,
    type,
    payload: { userId: user.id, email: user.email, name: user.name, role: user.role },
  });
}

export function createUsersStore(database: { db: Database<typeof schema>; transaction: RawTransaction }) {
  const { db } = database;
  return {
    async findByIds(ids: readonly string[]): Promise<UserRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(users).where(inArray(users.id, [...ids]));
    },

    async findByEmail(email: string): Promise<UserRow | undefined> {
      const [row] = await db.select().from(users).where(eq(users.email, email)).limit(1);
      return row;
    },

    async insert(user: Pick<UserRow, 'id' | 'email' | 'name' | 'role'>): Promise<UserRow> {
      try {
        return await database.transaction(async (sql) => {
          const [row] = await sql.query(`insert into users.users (id, email, name, role) values ($1, $2, $3, $4::users.user_role) returning ${USER_COLUMNS}`, [user.id, user.email, user.name, user.role]);
          const created = toUser(row!);
          await emitUserEvent(sql, 'user.registered', created, 1);
          return created;
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError();
        throw error;
      }
    },

    async update(id: string, changes: Partial<Pick<UserRow, 'email' | 'name'>>): Promise<UserRow | undefined> {
      try {
        return await database.transaction(async (sql) => {
          const [row] = await sql.query(
            `update users.users set email = coalesce($2, email), name = coalesce($3, name), updated_at = now() where id = $1 returning ${USER_COLUMNS}`,
            [id, changes.email ?? null, changes.name ?? null],
          );
          if (!row) return undefined;
          const updated = toUser(row);
          // The user's versions follow its events: one registration, then one per change.
          const [last] = await sql.query<{ version: number }>(`select coalesce(max(aggregate_version), 0)::integer as version from users.outbox_events where aggregate_id = $1`, [id]);
          await emitUserEvent(sql, 'user.updated', updated, Number(last?.version ?? 0) + 1);
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
