import { sql, type Kysely, type Migration } from 'kysely';
import type { DatabaseDialect } from '../database.service.js';

/**
 * Stored notifications, their read state per user, and the receipts of idempotent publishes
 * (docs/protocol.md, Notifications).
 *
 * A broadcast is one row with a null `user_id`, in the inbox of every user whenever they first
 * appear. A notification is read for a user when its id is at most their read-all cursor
 * (`notification_read_cursors`: read-all writes one row however many notifications there are) or
 * when they marked it read one by one (`notification_reads`, deleted as the cursor passes them).
 */
export function createNotifications(dialect: DatabaseDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // As for chat messages: ids are sync cursors held by clients, so never reused.
      await db.schema
        .createTable('notifications')
        .addColumn('id', dialect === 'postgres' ? 'bigint' : 'integer', (column) =>
          dialect === 'postgres'
            ? column.primaryKey().generatedAlwaysAsIdentity()
            : column.primaryKey().autoIncrement(),
        )
        .addColumn('user_id', 'text')
        .addColumn('title', 'text', (column) => column.notNull())
        .addColumn('body', 'text', (column) => column.notNull())
        .addColumn('level', 'text', (column) => column.notNull())
        .addColumn('data', 'text')
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .execute();
      // A user's own rows by id, in either direction.
      await db.schema
        .createIndex('notifications_user_id_id_idx')
        .on('notifications')
        .columns(['user_id', 'id'])
        .execute();
      // The broadcast rows by id. The index above would serve `user_id is null` as well, but
      // PostgreSQL's planner then prefers walking the primary key and filtering, which reads
      // every recent personal row when the broadcasts are few.
      await db.schema
        .createIndex('notifications_broadcast_id_idx')
        .on('notifications')
        .column('id')
        .where(sql.ref('user_id'), 'is', null)
        .execute();
      await db.schema
        .createIndex('notifications_created_at_idx')
        .on('notifications')
        .column('created_at')
        .execute();

      await db.schema
        .createTable('notification_reads')
        .addColumn('notification_id', 'bigint', (column) =>
          column.notNull().references('notifications.id').onDelete('cascade'),
        )
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('read_at', 'bigint', (column) => column.notNull())
        .addPrimaryKeyConstraint('notification_reads_pkey', ['notification_id', 'user_id'])
        .execute();
      await db.schema
        .createIndex('notification_reads_user_id_notification_id_idx')
        .on('notification_reads')
        .columns(['user_id', 'notification_id'])
        .execute();

      await db.schema
        .createTable('notification_read_cursors')
        .addColumn('user_id', 'text', (column) => column.primaryKey())
        .addColumn('read_up_to_id', 'bigint', (column) => column.notNull())
        .addColumn('updated_at', 'bigint', (column) => column.notNull())
        .execute();

      await db.schema
        .createTable('publish_receipts')
        .addColumn('actor_id', 'text', (column) => column.notNull())
        .addColumn('idempotency_key', 'text', (column) => column.notNull())
        .addColumn('result', 'text')
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .addPrimaryKeyConstraint('publish_receipts_pkey', ['actor_id', 'idempotency_key'])
        .execute();
      await db.schema
        .createIndex('publish_receipts_created_at_idx')
        .on('publish_receipts')
        .column('created_at')
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of [
        'publish_receipts',
        'notification_read_cursors',
        'notification_reads',
        'notifications',
      ]) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
