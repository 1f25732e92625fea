import { sql, type Kysely, type Migration } from 'kysely';
import type { DatabaseDialect } from '../database.service.js';

/**
 * A per-chat sequence: `chat_messages.seq` numbers each chat's messages 1, 2, 3, … without gaps,
 * and `chats.last_seq` is the latest one given out, which the next insert takes under the chat
 * row's lock (docs/protocol.md, Recovery). Existing messages are numbered in id order.
 *
 * On SQLite a trigger advances `last_seq` inside the inserting statement, which SQLite runs
 * alone; PostgreSQL advances it in the inserting statement itself (see the chat repository).
 */
export function addMessageSeq(dialect: DatabaseDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('chats')
        .addColumn('last_seq', 'bigint', (column) => column.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('chat_messages')
        .addColumn('seq', 'bigint', (column) => column.notNull().defaultTo(0))
        .execute();

      await sql`
        update chat_messages set seq = numbered.seq
        from (
          select id, row_number() over (partition by chat_id order by id) as seq from chat_messages
        ) as numbered
        where chat_messages.id = numbered.id
      `.execute(db);
      await sql`
        update chats set last_seq = coalesce(
          (select max(seq) from chat_messages where chat_messages.chat_id = chats.id), 0
        )
      `.execute(db);

      await db.schema
        .createIndex('chat_messages_chat_id_seq_key')
        .unique()
        .on('chat_messages')
        .columns(['chat_id', 'seq'])
        .execute();
      // Changes (edits, deletes) since a moment, for catching up on what live delivery dropped.
      await db.schema
        .createIndex('chat_messages_chat_id_edited_at_idx')
        .on('chat_messages')
        .columns(['chat_id', 'edited_at'])
        .where('edited_at', 'is not', null)
        .execute();
      await db.schema
        .createIndex('chat_messages_chat_id_deleted_at_idx')
        .on('chat_messages')
        .columns(['chat_id', 'deleted_at'])
        .where('deleted_at', 'is not', null)
        .execute();

      if (dialect === 'postgres') {
        // Every insert states its seq; a forgotten one must fail, not become 0.
        await sql`alter table chat_messages alter column seq drop default`.execute(db);
      } else {
        await sql`
          create trigger chat_messages_advance_last_seq after insert on chat_messages
          begin
            update chats set last_seq = new.seq where id = new.chat_id;
          end
        `.execute(db);
      }
    },

    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect === 'sqlite') await sql`drop trigger chat_messages_advance_last_seq`.execute(db);
      for (const index of [
        'chat_messages_chat_id_deleted_at_idx',
        'chat_messages_chat_id_edited_at_idx',
        'chat_messages_chat_id_seq_key',
      ]) {
        await db.schema.dropIndex(index).execute();
      }
      await db.schema.alterTable('chat_messages').dropColumn('seq').execute();
      await db.schema.alterTable('chats').dropColumn('last_seq').execute();
    },
  };
}
