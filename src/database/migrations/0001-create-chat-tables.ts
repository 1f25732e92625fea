import type { Kysely, Migration } from 'kysely';
import type { DatabaseDialect } from '../database.service.js';

/** Chats, their members, their messages and each member's read position. */
export function createChatTables(dialect: DatabaseDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('chats')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('title', 'text')
        .addColumn('created_by', 'text', (column) => column.notNull())
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .execute();

      await db.schema
        .createTable('chat_members')
        .addColumn('chat_id', 'text', (column) => column.notNull().references('chats.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('joined_at', 'bigint', (column) => column.notNull())
        .addPrimaryKeyConstraint('chat_members_pkey', ['chat_id', 'user_id'])
        .execute();
      await db.schema
        .createIndex('chat_members_user_id_chat_id_idx')
        .on('chat_members')
        .columns(['user_id', 'chat_id'])
        .execute();

      // SQLite's AUTOINCREMENT never reuses an id, which sync cursors held by clients rely on.
      await db.schema
        .createTable('chat_messages')
        .addColumn('id', dialect === 'postgres' ? 'bigint' : 'integer', (column) =>
          dialect === 'postgres'
            ? column.primaryKey().generatedAlwaysAsIdentity()
            : column.primaryKey().autoIncrement(),
        )
        .addColumn('chat_id', 'text', (column) => column.notNull().references('chats.id').onDelete('cascade'))
        .addColumn('sender_id', 'text', (column) => column.notNull())
        .addColumn('content', 'text')
        .addColumn('client_id', 'text')
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .addColumn('edited_at', 'bigint')
        .addColumn('deleted_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('chat_messages_chat_id_id_idx')
        .on('chat_messages')
        .columns(['chat_id', 'id'])
        .execute();
      await db.schema
        .createIndex('chat_messages_client_id_key')
        .unique()
        .on('chat_messages')
        .columns(['chat_id', 'sender_id', 'client_id'])
        .where('client_id', 'is not', null)
        .execute();

      await db.schema
        .createTable('chat_read_states')
        .addColumn('chat_id', 'text', (column) => column.notNull().references('chats.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('last_read_message_id', 'bigint', (column) => column.notNull())
        .addColumn('updated_at', 'bigint', (column) => column.notNull())
        .addPrimaryKeyConstraint('chat_read_states_pkey', ['chat_id', 'user_id'])
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['chat_read_states', 'chat_messages', 'chat_members', 'chats']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
