import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { sql, type Kysely, type Selectable } from 'kysely';
import { chunks } from '../common/chunks.js';
import { AppError } from '../common/errors.js';
import { DatabaseService, type DatabaseDialect } from '../database/database.service.js';
import { PreparedQuery } from '../database/prepared-query.js';
import type { ChatMessagesTable, ChatsTable, DatabaseSchema, EpochMillis } from '../database/schema.js';
import {
  ChatRepository,
  type DeleteMessageResult,
  type EditMessageResult,
  type InsertMessageResult,
  type NewChat,
  type NewMessage,
} from './chat.repository.js';
import type { Chat, ChatMessage, ChatSummary, MessagePage, ReadPosition } from './chat.types.js';

type ChatRow = Omit<Selectable<ChatsTable>, 'last_seq'>;
type MessageRow = Selectable<ChatMessagesTable>;
type MemberRow = { user_id: string; joined_at: EpochMillis };

/** Ids per `IN (...)` list: far under SQLite's and PostgreSQL's limits on bound parameters. */
const IN_LIST_CHUNK = 1000;

/** The chat repository on SQLite and PostgreSQL alike: every statement here is valid on both. */
@Injectable()
export class KyselyChatRepository extends ChatRepository {
  private readonly db: Kysely<DatabaseSchema>;
  /** The statements run per connection and per message, built once. */
  private readonly prepared: ReturnType<typeof prepareHotQueries>;

  constructor(database: DatabaseService) {
    super();
    this.db = database.db;
    this.prepared = prepareHotQueries(database.db, database.dialect);
  }

  async createChat({ title, participantIds, createdBy }: NewChat): Promise<Chat> {
    const chat: ChatRow = { id: randomUUID(), title, created_by: createdBy, created_at: Date.now() };
    const members: MemberRow[] = [...new Set(participantIds)].map((userId) => ({
      user_id: userId,
      joined_at: chat.created_at,
    }));
    await this.db.transaction().execute(async (transaction) => {
      await transaction.insertInto('chats').values(chat).execute();
      if (members.length > 0) {
        await transaction
          .insertInto('chat_members')
          .values(members.map((member) => ({ chat_id: chat.id, ...member })))
          .execute();
      }
    });
    return toChat(chat, members);
  }

  async findChat(chatId: string): Promise<Chat | null> {
    const rows = await this.db
      .selectFrom('chats')
      .leftJoin('chat_members', 'chat_members.chat_id', 'chats.id')
      .select([
        'chats.id',
        'chats.title',
        'chats.created_by',
        'chats.created_at',
        'chat_members.user_id',
        'chat_members.joined_at',
      ])
      .where('chats.id', '=', chatId)
      .execute();
    const [first] = rows;
    if (first === undefined) return null;
    const members = rows.flatMap(({ user_id, joined_at }) =>
      user_id !== null && joined_at !== null ? [{ user_id, joined_at }] : [],
    );
    return toChat(first, members);
  }

  async listChatsForUser(userId: string): Promise<ChatSummary[]> {
    const [summaries, memberships, readStates] = await Promise.all([
      this.db
        .with('mine', (db) =>
          db
            .selectFrom('chat_members as membership')
            .innerJoin('chats', 'chats.id', 'membership.chat_id')
            .leftJoin('chat_read_states as read_state', (join) =>
              join.onRef('read_state.chat_id', '=', 'chats.id').on('read_state.user_id', '=', userId),
            )
            .where('membership.user_id', '=', userId)
            .select((eb) => [
              'chats.id',
              'chats.title',
              'chats.created_by',
              'chats.created_at',
              'chats.last_seq',
              eb.fn.coalesce('read_state.last_read_message_id', eb.lit(0)).as('last_read_message_id'),
            ]),
        )
        .selectFrom('mine')
        .leftJoin('chat_messages as last_message', (join) =>
          join.onRef('last_message.chat_id', '=', 'mine.id').onRef('last_message.seq', '=', 'mine.last_seq'),
        )
        .select((eb) => [
          'mine.id',
          'mine.title',
          'mine.created_by',
          'mine.created_at',
          'mine.last_seq',
          'last_message.id as last_id',
          'last_message.sender_id as last_sender_id',
          'last_message.content as last_content',
          'last_message.client_id as last_client_id',
          'last_message.created_at as last_created_at',
          'last_message.edited_at as last_edited_at',
          'last_message.deleted_at as last_deleted_at',
          eb
            .selectFrom('chat_messages as unread')
            .select((inner) => inner.fn.countAll<number>().as('count'))
            .whereRef('unread.chat_id', '=', 'mine.id')
            .whereRef('unread.id', '>', 'mine.last_read_message_id')
            .where('unread.sender_id', '<>', userId)
            .where('unread.deleted_at', 'is', null)
            .as('unread_count'),
        ])
        // Within one millisecond, the chat whose last message is newer (greater id) comes first.
        .orderBy((eb) => eb.fn.coalesce('last_message.created_at', 'mine.created_at'), 'desc')
        .orderBy((eb) => eb.fn.coalesce('last_message.id', eb.lit(0)), 'desc')
        .orderBy('mine.id')
        .execute(),
      this.db
        .selectFrom('chat_members as membership')
        .innerJoin('chat_members as member', 'member.chat_id', 'membership.chat_id')
        .where('membership.user_id', '=', userId)
        .select(['member.chat_id', 'member.user_id', 'member.joined_at'])
        .execute(),
      this.db
        .selectFrom('chat_members as membership')
        .innerJoin('chat_read_states as read_state', 'read_state.chat_id', 'membership.chat_id')
        .where('membership.user_id', '=', userId)
        .select(['read_state.chat_id', 'read_state.user_id', 'read_state.last_read_message_id'])
        .orderBy('read_state.user_id')
        .execute(),
    ]);

    const membersByChat = new Map<string, MemberRow[]>();
    for (const { chat_id, ...member } of memberships) {
      const members = membersByChat.get(chat_id) ?? [];
      members.push(member);
      membersByChat.set(chat_id, members);
    }

    const readPositionsByChat = new Map<string, ReadPosition[]>();
    for (const { chat_id, user_id, last_read_message_id } of readStates) {
      const positions = readPositionsByChat.get(chat_id) ?? [];
      positions.push({ userId: user_id, messageId: last_read_message_id });
      readPositionsByChat.set(chat_id, positions);
    }

    return summaries.map((summary) => {
      const { last_id, last_sender_id, last_content, last_client_id, last_created_at } = summary;
      const lastMessage =
        last_id !== null && last_sender_id !== null && last_created_at !== null
          ? toMessage({
              id: last_id,
              chat_id: summary.id,
              seq: summary.last_seq,
              sender_id: last_sender_id,
              content: last_content,
              client_id: last_client_id,
              created_at: last_created_at,
              edited_at: summary.last_edited_at,
              deleted_at: summary.last_deleted_at,
            })
          : null;
      return {
        ...toChat(summary, membersByChat.get(summary.id) ?? []),
        lastMessage,
        lastSeq: summary.last_seq,
        unreadCount: summary.unread_count ?? 0,
        readPositions: readPositionsByChat.get(summary.id) ?? [],
      };
    });
  }

  async chatIdsForUser(userId: string): Promise<string[]> {
    const rows = await this.prepared.chatIdsOfUser.execute({ userId });
    return rows.map((row) => row.chat_id);
  }

  async isParticipant(chatId: string, userId: string): Promise<boolean> {
    return (await this.prepared.membership.executeTakeFirst({ chatId, userId })) !== undefined;
  }

  async smallChatsOf(
    userIds: readonly string[],
    maxMembers: number,
  ): Promise<Map<string, { chatId: string; memberIds: string[] }[]>> {
    const unique = [...new Set(userIds)];
    const usersByChat = new Map<string, string[]>();
    for (const users of chunks(unique, IN_LIST_CHUNK)) {
      // Counting stops past the limit: a chat of 10,000 members costs what one of `maxMembers` does.
      const memberships = await this.db
        .selectFrom('chat_members as mine')
        .where('mine.user_id', 'in', users)
        .where(
          (eb) =>
            eb
              .selectFrom((inner) =>
                inner
                  .selectFrom('chat_members as counted')
                  .select(sql.lit(1).as('one'))
                  .whereRef('counted.chat_id', '=', 'mine.chat_id')
                  .limit(maxMembers + 1)
                  .as('capped'),
              )
              .select((capped) => capped.fn.countAll<number>().as('members')),
          '<=',
          maxMembers,
        )
        .select(['mine.user_id', 'mine.chat_id'])
        .execute();
      for (const { chat_id, user_id } of memberships) pushTo(usersByChat, chat_id, user_id);
    }
    const membersByChat = new Map<string, string[]>();
    for (const chatIds of chunks([...usersByChat.keys()], IN_LIST_CHUNK)) {
      const members = await this.db
        .selectFrom('chat_members')
        .where('chat_id', 'in', chatIds)
        .select(['chat_id', 'user_id'])
        .execute();
      for (const { chat_id, user_id } of members) pushTo(membersByChat, chat_id, user_id);
    }
    const chatsByUser = new Map(
      unique.map((userId) => [userId, [] as { chatId: string; memberIds: string[] }[]]),
    );
    // Sorted here, not in SQL, so that the order never depends on a database collation.
    for (const chatId of [...usersByChat.keys()].sort()) {
      const chat = { chatId, memberIds: (membersByChat.get(chatId) ?? []).sort() };
      for (const userId of usersByChat.get(chatId) ?? []) chatsByUser.get(userId)?.push(chat);
    }
    return chatsByUser;
  }

  async usersSharingAChat(userId: string, others: readonly string[]): Promise<string[]> {
    if (others.length === 0) return [];
    const rows = await this.db
      .selectFrom('chat_members as mine')
      .innerJoin('chat_members as member', 'member.chat_id', 'mine.chat_id')
      .where('mine.user_id', '=', userId)
      .where('member.user_id', 'in', [...new Set(others)])
      .select('member.user_id')
      .distinct()
      .orderBy('member.user_id')
      .execute();
    return rows.map((row) => row.user_id);
  }

  async addMember(chatId: string, userId: string): Promise<boolean> {
    const row = await this.db
      .insertInto('chat_members')
      .values({ chat_id: chatId, user_id: userId, joined_at: Date.now() })
      .onConflict((conflict) => conflict.columns(['chat_id', 'user_id']).doNothing())
      .returning('user_id')
      .executeTakeFirst();
    return row !== undefined;
  }

  async removeMember(chatId: string, userId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('chat_members')
      .where('chat_id', '=', chatId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async insertMessage({ chatId, senderId, content, clientId }: NewMessage): Promise<InsertMessageResult> {
    // One statement whatever the outcome: the chat row's lock orders concurrent inserts into the
    // same chat, so each takes the next seq; with a clientId already used, the partial unique
    // index arbitrates, nothing is inserted and no seq is taken, and the losers read back the
    // winner's row.
    const inserted = await this.prepared.insertMessage.executeTakeFirst({
      chatId,
      senderId,
      content,
      clientId: clientId ?? null,
      createdAt: Date.now(),
    });
    if (inserted) return { message: toMessage(inserted), created: true };
    if (clientId === undefined) throw AppError.notFound(`Chat ${chatId} not found`);

    const stored = await this.prepared.messageByClientId.executeTakeFirst({ chatId, senderId, clientId });
    if (!stored) throw AppError.notFound(`Chat ${chatId} not found`);
    return { message: toMessage(stored), created: false };
  }

  async findMessage(messageId: number): Promise<ChatMessage | null> {
    if (!isStoredId(messageId)) return null;
    const row = await this.db
      .selectFrom('chat_messages')
      .selectAll()
      .where('id', '=', messageId)
      .executeTakeFirst();
    return row ? toMessage(row) : null;
  }

  async editMessage(messageId: number, content: string, editedAt: Date): Promise<EditMessageResult> {
    if (!isStoredId(messageId)) return { status: 'not_found' };
    const row = await this.db
      .updateTable('chat_messages')
      .set({ content, edited_at: editedAt.getTime() })
      .where('id', '=', messageId)
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (row) return { status: 'edited', message: toMessage(row) };
    return (await this.findMessage(messageId)) ? { status: 'was_deleted' } : { status: 'not_found' };
  }

  async deleteMessage(messageId: number, deletedAt: Date): Promise<DeleteMessageResult> {
    if (!isStoredId(messageId)) return { status: 'not_found' };
    const row = await this.db
      .updateTable('chat_messages')
      .set({ content: null, deleted_at: deletedAt.getTime() })
      .where('id', '=', messageId)
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (row) return { status: 'deleted', message: toMessage(row) };
    const stored = await this.findMessage(messageId);
    return stored ? { status: 'already_deleted', message: stored } : { status: 'not_found' };
  }

  async findMessagesAfter(
    chatId: string,
    afterMessageId: number | undefined,
    limit: number,
  ): Promise<MessagePage> {
    const rows = await this.db
      .selectFrom('chat_messages')
      .selectAll()
      .where('chat_id', '=', chatId)
      .where('id', '>', afterMessageId ?? 0)
      .orderBy('id', 'asc')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit);
  }

  async findMessagesAfterSeq(chatId: string, afterSeq: number, limit: number): Promise<MessagePage> {
    const rows = await this.prepared.messagesAfterSeq.execute({ chatId, afterSeq, limit: limit + 1 });
    return toPage(rows, limit);
  }

  async findMessagesChangedSince(
    chatId: string,
    since: Date,
    upToSeq: number,
    limit: number,
  ): Promise<MessagePage> {
    const from = since.getTime();
    const rows = await this.db
      .selectFrom('chat_messages')
      .selectAll()
      .where('chat_id', '=', chatId)
      .where('seq', '<=', upToSeq)
      .where((eb) => eb.or([eb('edited_at', '>=', from), eb('deleted_at', '>=', from)]))
      .orderBy((eb) => eb.fn.coalesce('deleted_at', 'edited_at'))
      .orderBy('seq')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit);
  }

  async findMessagesBefore(
    chatId: string,
    beforeMessageId: number | undefined,
    limit: number,
  ): Promise<MessagePage> {
    let query = this.db.selectFrom('chat_messages').selectAll().where('chat_id', '=', chatId);
    if (beforeMessageId !== undefined) query = query.where('id', '<', beforeMessageId);
    const rows = await query
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const page = toPage(rows, limit);
    page.messages.reverse();
    return page;
  }

  async markRead(chatId: string, userId: string, messageId: number): Promise<number | null> {
    if (!isStoredId(messageId)) return null;
    // Inserting from the message row makes a message of another chat insert nothing, and the
    // conditional update keeps the position from moving backwards.
    const advanced = await this.db
      .insertInto('chat_read_states')
      .columns(['chat_id', 'user_id', 'last_read_message_id', 'updated_at'])
      .expression((eb) =>
        eb
          .selectFrom('chat_messages')
          .select([
            'chat_messages.chat_id',
            sql<string>`cast(${userId} as text)`.as('user_id'),
            'chat_messages.id',
            sql<EpochMillis>`cast(${Date.now()} as bigint)`.as('updated_at'),
          ])
          .where('chat_messages.id', '=', messageId)
          .where('chat_messages.chat_id', '=', chatId),
      )
      .onConflict((conflict) =>
        conflict
          .columns(['chat_id', 'user_id'])
          .doUpdateSet((eb) => ({
            last_read_message_id: eb.ref('excluded.last_read_message_id'),
            updated_at: eb.ref('excluded.updated_at'),
          }))
          .where((eb) =>
            eb('chat_read_states.last_read_message_id', '<', eb.ref('excluded.last_read_message_id')),
          ),
      )
      .returning('last_read_message_id')
      .executeTakeFirst();
    if (advanced) return advanced.last_read_message_id;

    const current = await this.db
      .selectNoFrom((eb) => [
        eb
          .selectFrom('chat_messages')
          .select('id')
          .where('id', '=', messageId)
          .where('chat_id', '=', chatId)
          .as('message_id'),
        eb
          .selectFrom('chat_read_states')
          .select('last_read_message_id')
          .where('chat_id', '=', chatId)
          .where('user_id', '=', userId)
          .as('last_read_message_id'),
      ])
      .executeTakeFirstOrThrow();
    return current.message_id === null ? null : current.last_read_message_id;
  }
}

type NewMessageParams = {
  chatId: string;
  senderId: string;
  content: string;
  clientId: string | null;
  createdAt: number;
};

/**
 * Stores a message under the chat's next seq, read from `chats.last_seq` in the same statement;
 * with a clientId the sender already used in the chat, inserts nothing and takes no seq.
 *
 * PostgreSQL: `for update` makes concurrent inserts into one chat wait for each other, and a
 * waiting one then reads the row as the other left it; the same statement advances `last_seq`,
 * only when a row was inserted. SQLite runs one writing statement at a time, and the
 * migration's trigger advances `last_seq` as the row goes in.
 */
function insertMessageStatement(
  db: Kysely<DatabaseSchema>,
  dialect: DatabaseDialect,
  params: NewMessageParams,
) {
  const insert = (into: Kysely<DatabaseSchema>) =>
    into
      .insertInto('chat_messages')
      .columns(['chat_id', 'sender_id', 'content', 'client_id', 'created_at', 'seq'])
      .expression((eb) => {
        const next = eb
          .selectFrom('chats')
          .select((chats) => [
            sql<string>`cast(${params.chatId} as text)`.as('chat_id'),
            sql<string>`cast(${params.senderId} as text)`.as('sender_id'),
            sql<string>`cast(${params.content} as text)`.as('content'),
            sql<string | null>`cast(${params.clientId} as text)`.as('client_id'),
            sql<EpochMillis>`cast(${params.createdAt} as bigint)`.as('created_at'),
            chats('last_seq', '+', 1).as('seq'),
          ])
          .where('id', '=', params.chatId);
        return dialect === 'postgres' ? next.forUpdate() : next;
      })
      .onConflict((conflict) =>
        conflict
          .columns(['chat_id', 'sender_id', 'client_id'])
          .where('client_id', 'is not', null)
          .doNothing(),
      )
      .returningAll();
  if (dialect === 'sqlite') return insert(db);
  return db
    .with('inserted', (into) => insert(into as Kysely<DatabaseSchema>))
    .with('advanced', (update) =>
      update
        .updateTable('chats')
        .set({ last_seq: sql<number>`inserted.seq` })
        .from('inserted')
        .whereRef('chats.id', '=', 'inserted.chat_id'),
    )
    .selectFrom('inserted')
    .selectAll();
}

function prepareHotQueries(db: Kysely<DatabaseSchema>, dialect: DatabaseDialect) {
  return {
    chatIdsOfUser: new PreparedQuery(
      db,
      (params: { userId: string }) =>
        db
          .selectFrom('chat_members')
          .select('chat_id')
          .where('user_id', '=', params.userId)
          .orderBy('chat_id'),
      ['userId'],
    ),
    membership: new PreparedQuery(
      db,
      (params: { chatId: string; userId: string }) =>
        db
          .selectFrom('chat_members')
          .select('user_id')
          .where('chat_id', '=', params.chatId)
          .where('user_id', '=', params.userId),
      ['chatId', 'userId'],
    ),
    insertMessage: new PreparedQuery(
      db,
      (params: NewMessageParams) => insertMessageStatement(db, dialect, params),
      ['chatId', 'senderId', 'content', 'clientId', 'createdAt'],
    ),
    messagesAfterSeq: new PreparedQuery(
      db,
      (params: { chatId: string; afterSeq: number; limit: number }) =>
        db
          .selectFrom('chat_messages')
          .selectAll()
          .where('chat_id', '=', params.chatId)
          .where('seq', '>', params.afterSeq)
          .orderBy('seq')
          .limit(params.limit),
      ['chatId', 'afterSeq', 'limit'],
    ),
    messageByClientId: new PreparedQuery(
      db,
      (params: { chatId: string; senderId: string; clientId: string }) =>
        db
          .selectFrom('chat_messages')
          .selectAll()
          .where('chat_id', '=', params.chatId)
          .where('sender_id', '=', params.senderId)
          .where('client_id', '=', params.clientId),
      ['chatId', 'senderId', 'clientId'],
    ),
  };
}

function isStoredId(id: number): boolean {
  return Number.isSafeInteger(id) && id > 0;
}

function toIso(epochMillis: EpochMillis): string {
  return new Date(epochMillis).toISOString();
}

function pushTo(lists: Map<string, string[]>, key: string, value: string): void {
  const list = lists.get(key);
  if (list) list.push(value);
  else lists.set(key, [value]);
}

function compareMembers(a: MemberRow, b: MemberRow): number {
  if (a.joined_at !== b.joined_at) return a.joined_at - b.joined_at;
  return a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0;
}

/** Members are sorted here, not in SQL, so the order never depends on a database collation. */
function toChat(row: ChatRow, members: MemberRow[]): Chat {
  return {
    id: row.id,
    title: row.title,
    participantIds: [...members].sort(compareMembers).map((member) => member.user_id),
    createdBy: row.created_by,
    createdAt: toIso(row.created_at),
  };
}

function toMessage(row: MessageRow): ChatMessage {
  return {
    id: row.id,
    chatId: row.chat_id,
    seq: row.seq,
    senderId: row.sender_id,
    content: row.content,
    ...(row.client_id !== null && { clientId: row.client_id }),
    createdAt: toIso(row.created_at),
    ...(row.edited_at !== null && { editedAt: toIso(row.edited_at) }),
    ...(row.deleted_at !== null && { deletedAt: toIso(row.deleted_at) }),
  };
}

function toPage(rows: MessageRow[], limit: number): MessagePage {
  return { messages: rows.slice(0, limit).map(toMessage), hasMore: rows.length > limit };
}
