/** The only place with SQL for users. */
import { eq, inArray } from 'drizzle-orm';
import { isUniqueViolation, type Database } from '@paygraph/db';
import { users, type UserRow, type schema } from '../db/schema';

export class EmailTakenError extends Error {}

export function createUsersStore(db: Database<typeof schema>) {
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
        const [row] = await db.insert(users).values(user).returning();
        return row!;
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError();
        throw error;
      }
    },

    async update(id: string, changes: Partial<Pick<UserRow, 'email' | 'name'>>): Promise<UserRow | undefined> {
      try {
        const [row] = await db
          .update(users)
          .set({ ...changes, updatedAt: new Date() })
          .where(eq(users.id, id))
          .returning();
        return row;
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError();
        throw error;
      }
    },
  };
}

export type UsersStore = ReturnType<typeof createUsersStore>;
