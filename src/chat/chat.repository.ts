import type { Chat, ChatMessage, ChatSummary, MessagePage } from './chat.types.js';

export interface NewChat {
  title: string | null;
  /** Duplicates are stored once. */
  participantIds: string[];
  createdBy: string;
}

export interface NewMessage {
  chatId: string;
  senderId: string;
  content: string;
  /** Makes the insert idempotent per (chatId, senderId, clientId). */
  clientId?: string;
}

export interface InsertMessageResult {
  message: ChatMessage;
  /** False when the message was already stored under the same clientId: nothing was written. */
  created: boolean;
}

export type EditMessageResult =
  | { status: 'edited'; message: ChatMessage }
  /** Deleted messages are never edited; nothing was written. */
  | { status: 'was_deleted' }
  | { status: 'not_found' };

export type DeleteMessageResult =
  | { status: 'deleted'; message: ChatMessage }
  /** Deleted before; nothing was written and `message` keeps its first `deletedAt`. */
  | { status: 'already_deleted'; message: ChatMessage }
  | { status: 'not_found' };

/**
 * Storage of chats, memberships, messages and read positions. It enforces what the data must
 * satisfy (idempotent inserts, monotonic read positions), never who may do what: that is the
 * service's job. Unknown ids yield null, false, empty results or `not_found`; a database that
 * cannot be reached makes every method reject with `AppError` `SERVICE_UNAVAILABLE`.
 */
export abstract class ChatRepository {
  abstract createChat(chat: NewChat): Promise<Chat>;

  abstract findChat(chatId: string): Promise<Chat | null>;

  /** The user's chats, most recent activity (last message, else creation) first. */
  abstract listChatsForUser(userId: string): Promise<ChatSummary[]>;

  abstract chatIdsForUser(userId: string): Promise<string[]>;

  abstract isParticipant(chatId: string, userId: string): Promise<boolean>;

  /**
   * For each of `userIds`, their chats with at most `maxMembers` members, by chat id, each with
   * its member ids (sorted); a chat shared by several of them is one object.
   */
  abstract smallChatsOf(
    userIds: readonly string[],
    maxMembers: number,
  ): Promise<Map<string, { chatId: string; memberIds: string[] }[]>>;

  /** Of `others`, those who share at least one chat with `userId`, each once. */
  abstract usersSharingAChat(userId: string, others: readonly string[]): Promise<string[]>;

  /** False if the user was already a member. */
  abstract addMember(chatId: string, userId: string): Promise<boolean>;

  /** False if the user was not a member. */
  abstract removeMember(chatId: string, userId: string): Promise<boolean>;

  /**
   * Stores a message under the chat's next `seq`, or with a `clientId` already used by the same
   * sender in the same chat, returns the stored one unchanged and takes no `seq`, concurrent
   * retries included. `NOT_FOUND` when the chat does not exist.
   */
  abstract insertMessage(message: NewMessage): Promise<InsertMessageResult>;

  abstract findMessage(messageId: number): Promise<ChatMessage | null>;

  abstract editMessage(messageId: number, content: string, editedAt: Date): Promise<EditMessageResult>;

  /** Keeps the message and its id, drops its content. */
  abstract deleteMessage(messageId: number, deletedAt: Date): Promise<DeleteMessageResult>;

  /** Up to `limit` (≥ 1) messages right after `afterMessageId` (from the start without it). */
  abstract findMessagesAfter(
    chatId: string,
    afterMessageId: number | undefined,
    limit: number,
  ): Promise<MessagePage>;

  /** Up to `limit` (≥ 1) messages with a `seq` greater than `afterSeq`, in `seq` order. */
  abstract findMessagesAfterSeq(chatId: string, afterSeq: number, limit: number): Promise<MessagePage>;

  /**
   * Up to `limit` (≥ 1) messages with a `seq` up to `upToSeq` edited or deleted at or after
   * `since`, in the order they changed (then by `seq`).
   */
  abstract findMessagesChangedSince(
    chatId: string,
    since: Date,
    upToSeq: number,
    limit: number,
  ): Promise<MessagePage>;

  /**
   * Up to `limit` (≥ 1) messages right before `beforeMessageId` (the latest without it), oldest
   * first; `hasMore` tells whether older ones exist.
   */
  abstract findMessagesBefore(
    chatId: string,
    beforeMessageId: number | undefined,
    limit: number,
  ): Promise<MessagePage>;

  /**
   * Moves the user's read position in the chat forward to `messageId`, never backwards.
   * Returns the effective last-read message id, or null when the message is not in this chat.
   */
  abstract markRead(chatId: string, userId: string, messageId: number): Promise<number | null>;
}
