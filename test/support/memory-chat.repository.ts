import { randomUUID } from 'node:crypto';
import {
  ChatRepository,
  type DeleteMessageResult,
  type EditMessageResult,
  type InsertMessageResult,
  type NewChat,
  type NewMessage,
} from '../../src/chat/chat.repository.js';
import type { Chat, ChatMessage, ChatSummary, MessagePage, ReadPosition } from '../../src/chat/chat.types.js';

interface StoredChat {
  id: string;
  title: string | null;
  createdBy: string;
  createdAt: number;
  /** Joining time by member, which orders `participantIds` as the database adapter does. */
  members: Map<string, number>;
  lastSeq: number;
}

/**
 * The `ChatRepository` contract in memory, for unit tests of what sits on top of it. The
 * repository contract suite runs against it as against every database, so it behaves as the
 * real adapter does (UUID chat ids, member and summary order). It is strict where the port
 * forbids arguments (a page size below 1, a fractional limit, a message for an unknown chat):
 * those throw instead of being tolerated. Every result is a copy, so a caller can neither rely on
 * lax input handling nor on shared state.
 */
export class InMemoryChatRepository extends ChatRepository {
  private readonly chats = new Map<string, StoredChat>();
  private readonly messages = new Map<number, ChatMessage>();
  private readonly readPositions = new Map<string, number>();
  private lastMessageId = 0;
  /** Makes the next `insertMessage` fail, as a database that went away would. */
  failNextInsert: Error | null = null;

  createChat({ title, participantIds, createdBy }: NewChat): Promise<Chat> {
    const createdAt = Date.now();
    const chat: StoredChat = {
      id: randomUUID(),
      title,
      createdBy,
      createdAt,
      members: new Map(participantIds.map((userId) => [userId, createdAt])),
      lastSeq: 0,
    };
    this.chats.set(chat.id, chat);
    return Promise.resolve(toChat(chat));
  }

  findChat(chatId: string): Promise<Chat | null> {
    const chat = this.chats.get(chatId);
    return Promise.resolve(chat ? toChat(chat) : null);
  }

  listChatsForUser(userId: string): Promise<ChatSummary[]> {
    const summaries = this.chatsOf(userId).map((chat) => {
      const own = this.messagesOf(chat.id);
      const lastMessage = own.at(-1) ?? null;
      const readUpTo = this.readPositions.get(readKey(chat.id, userId)) ?? 0;
      const unread = own.filter((m) => m.id > readUpTo && m.senderId !== userId && !m.deletedAt);
      return {
        summary: {
          ...toChat(chat),
          lastMessage: copy(lastMessage),
          lastSeq: chat.lastSeq,
          unreadCount: unread.length,
          readPositions: this.readPositionsOf(chat.id),
        },
        activeAt: lastMessage ? Date.parse(lastMessage.createdAt) : chat.createdAt,
        lastId: lastMessage?.id ?? 0,
      };
    });
    // Latest activity first; within one millisecond the newer last message; then by chat id.
    summaries.sort(
      (a, b) => b.activeAt - a.activeAt || b.lastId - a.lastId || compareText(a.summary.id, b.summary.id),
    );
    return Promise.resolve(summaries.map(({ summary }) => summary));
  }

  chatIdsForUser(userId: string): Promise<string[]> {
    return Promise.resolve(
      this.chatsOf(userId)
        .map((chat) => chat.id)
        .sort(compareText),
    );
  }

  isParticipant(chatId: string, userId: string): Promise<boolean> {
    return Promise.resolve(this.chats.get(chatId)?.members.has(userId) ?? false);
  }

  smallChatsOf(
    userIds: readonly string[],
    maxMembers: number,
  ): Promise<Map<string, { chatId: string; memberIds: string[] }[]>> {
    return Promise.resolve(
      new Map(
        userIds.map((userId) => [
          userId,
          this.chatsOf(userId)
            .filter((chat) => chat.members.size <= maxMembers)
            .sort((a, b) => compareText(a.id, b.id))
            .map((chat) => ({ chatId: chat.id, memberIds: [...chat.members.keys()].sort(compareText) })),
        ]),
      ),
    );
  }

  usersSharingAChat(userId: string, others: readonly string[]): Promise<string[]> {
    const sharing = new Set(this.chatsOf(userId).flatMap((chat) => [...chat.members.keys()]));
    return Promise.resolve([...new Set(others)].filter((other) => sharing.has(other)).sort(compareText));
  }

  addMember(chatId: string, userId: string): Promise<boolean> {
    const chat = this.chats.get(chatId);
    if (!chat || chat.members.has(userId)) return Promise.resolve(false);
    chat.members.set(userId, Date.now());
    return Promise.resolve(true);
  }

  removeMember(chatId: string, userId: string): Promise<boolean> {
    return Promise.resolve(this.chats.get(chatId)?.members.delete(userId) ?? false);
  }

  insertMessage({ chatId, senderId, content, clientId }: NewMessage): Promise<InsertMessageResult> {
    if (this.failNextInsert) {
      const failure = this.failNextInsert;
      this.failNextInsert = null;
      return Promise.reject(failure);
    }
    const chat = this.chats.get(chatId);
    if (!chat) return Promise.reject(new Error(`Contract violated: no chat ${chatId}`));
    const stored =
      clientId === undefined
        ? undefined
        : this.messagesOf(chatId).find(
            (message) => message.senderId === senderId && message.clientId === clientId,
          );
    if (stored) return Promise.resolve({ message: copy(stored), created: false });
    this.lastMessageId += 1;
    chat.lastSeq += 1;
    const message: ChatMessage = {
      id: this.lastMessageId,
      chatId,
      seq: chat.lastSeq,
      senderId,
      content,
      ...(clientId !== undefined && { clientId }),
      createdAt: new Date().toISOString(),
    };
    this.messages.set(message.id, message);
    return Promise.resolve({ message: copy(message), created: true });
  }

  findMessage(messageId: number): Promise<ChatMessage | null> {
    return Promise.resolve(copy(this.messages.get(messageId) ?? null));
  }

  editMessage(messageId: number, content: string, editedAt: Date): Promise<EditMessageResult> {
    const message = this.messages.get(messageId);
    if (!message) return Promise.resolve({ status: 'not_found' });
    if (message.deletedAt) return Promise.resolve({ status: 'was_deleted' });
    message.content = content;
    message.editedAt = editedAt.toISOString();
    return Promise.resolve({ status: 'edited', message: copy(message) });
  }

  deleteMessage(messageId: number, deletedAt: Date): Promise<DeleteMessageResult> {
    const message = this.messages.get(messageId);
    if (!message) return Promise.resolve({ status: 'not_found' });
    if (message.deletedAt) return Promise.resolve({ status: 'already_deleted', message: copy(message) });
    message.content = null;
    message.deletedAt = deletedAt.toISOString();
    return Promise.resolve({ status: 'deleted', message: copy(message) });
  }

  findMessagesAfter(chatId: string, afterMessageId: number | undefined, limit: number): Promise<MessagePage> {
    requirePageSize(limit);
    const after = this.messagesOf(chatId).filter((message) => message.id > (afterMessageId ?? 0));
    return Promise.resolve({ messages: copy(after.slice(0, limit)), hasMore: after.length > limit });
  }

  findMessagesAfterSeq(chatId: string, afterSeq: number, limit: number): Promise<MessagePage> {
    requirePageSize(limit);
    const after = this.messagesOf(chatId).filter((message) => message.seq > afterSeq);
    return Promise.resolve({ messages: copy(after.slice(0, limit)), hasMore: after.length > limit });
  }

  findMessagesChangedSince(
    chatId: string,
    since: Date,
    upToSeq: number,
    limit: number,
  ): Promise<MessagePage> {
    requirePageSize(limit);
    const changedAt = (message: ChatMessage) => Date.parse(message.deletedAt ?? message.editedAt ?? '');
    const changed = this.messagesOf(chatId)
      .filter((message) => message.seq <= upToSeq && changedAt(message) >= since.getTime())
      .sort((a, b) => changedAt(a) - changedAt(b) || a.seq - b.seq);
    return Promise.resolve({ messages: copy(changed.slice(0, limit)), hasMore: changed.length > limit });
  }

  findMessagesBefore(
    chatId: string,
    beforeMessageId: number | undefined,
    limit: number,
  ): Promise<MessagePage> {
    requirePageSize(limit);
    const before = this.messagesOf(chatId).filter(
      (message) => beforeMessageId === undefined || message.id < beforeMessageId,
    );
    return Promise.resolve({
      messages: copy(before.slice(Math.max(before.length - limit, 0))),
      hasMore: before.length > limit,
    });
  }

  markRead(chatId: string, userId: string, messageId: number): Promise<number | null> {
    if (this.messages.get(messageId)?.chatId !== chatId) return Promise.resolve(null);
    const key = readKey(chatId, userId);
    const position = Math.max(this.readPositions.get(key) ?? 0, messageId);
    this.readPositions.set(key, position);
    return Promise.resolve(position);
  }

  /** What is stored for a chat, read without going through the port. */
  storedMessages(chatId: string): ChatMessage[] {
    return copy(this.messagesOf(chatId));
  }

  private readPositionsOf(chatId: string): ReadPosition[] {
    return [...this.readPositions]
      .map(([key, messageId]) => ({ key: JSON.parse(key) as [string, string], messageId }))
      .filter(({ key }) => key[0] === chatId)
      .map(({ key, messageId }) => ({ userId: key[1], messageId }))
      .sort((a, b) => compareText(a.userId, b.userId));
  }

  private chatsOf(userId: string): StoredChat[] {
    return [...this.chats.values()].filter((chat) => chat.members.has(userId));
  }

  /** The chat's messages in id order (the map keeps insertion order, which is id order). */
  private messagesOf(chatId: string): ChatMessage[] {
    return [...this.messages.values()].filter((message) => message.chatId === chatId);
  }
}

function toChat(chat: StoredChat): Chat {
  const participantIds = [...chat.members]
    .sort(([userA, joinedA], [userB, joinedB]) => joinedA - joinedB || compareText(userA, userB))
    .map(([userId]) => userId);
  return {
    id: chat.id,
    title: chat.title,
    participantIds,
    createdBy: chat.createdBy,
    createdAt: new Date(chat.createdAt).toISOString(),
  };
}

function copy<T>(value: T): T {
  return structuredClone(value);
}

/** Code-unit order, as the database adapter sorts: never a locale's collation. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function readKey(chatId: string, userId: string): string {
  return JSON.stringify([chatId, userId]);
}

function requirePageSize(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`Contract violated: page size ${limit}`);
}
