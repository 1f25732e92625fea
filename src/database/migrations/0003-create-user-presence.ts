import type { Kysely, Migration } from 'kysely';

/**
 * Each user's chosen presence status and when they were last seen online (docs/protocol.md,
 * Presence). A user without a row has never chosen a status nor been seen.
 */
export function createUserPresence(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('user_presence')
        .addColumn('user_id', 'text', (column) => column.primaryKey())
        .addColumn('status', 'text', (column) => column.notNull().defaultTo('online'))
        .addColumn('last_seen_at', 'bigint')
        .addColumn('updated_at', 'bigint', (column) => column.notNull())
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('user_presence').execute();
    },
  };
}
