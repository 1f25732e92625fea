import { Injectable, OnModuleDestroy } from '@nestjs/common';
import type { Namespace } from 'socket.io';
import type { Principal } from '../auth/principal.js';
import { hasAnyRole, Role } from '../auth/roles.js';
import { AppConfig } from '../config/app-config.js';
import { AppError } from '../common/errors.js';
import type { RealtimeChannel } from '../realtime/realtime-channel.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { userRoom } from '../realtime/rooms.js';
import {
  CHAT_NAMESPACE,
  ChatEvent,
  ChatLimits,
  type ChatServerPayloads,
  type CreateChatRequest,
  type DeleteMessageRequest,
  type EditMessageRequest,
  type MemberAddition,
  type MemberRemovedPayload,
  type MessagesQuery,
  type ReadMessageRequest,
  type ReadReceipt,
  type SendMessageRequest,
  type SyncRequest,
  type TypingState,
} from './chat.events.js';
import { ChatRepository, type InsertMessageResult } from './chat.repository.js';
import type { Chat, ChatMessage, ChatSummary, MessagePage, SyncPage } from './chat.types.js';
import { contentProblem } from './message-content.js';
import { TypingTracker, type TypingKey } from './typing.tracker.js';

/** Who acts on a chat: any `Principal` will do, and so will an importing service's own user. */
export type ChatActor = Pick<Principal, 'userId' | 'roles'>;

const CHAT_ROOM_PREFIX = 'chat:';

/** Every socket of every participant of a chat, on every instance. */
export function chatRoom(chatId: string): string {
  return `${CHAT_ROOM_PREFIX}${chatId}`;
}

export function isChatRoom(room: string): boolean {
  return room.startsWith(CHAT_ROOM_PREFIX);
}

/**
 * The chat rules (docs/protocol.md, Chat), for the gateway, the controller and importing Nest services
 * alike: every write is stored first, then broadcast to the rooms of the `/chat` namespace,
 * through the adapter, so that every instance delivers it.
 *
 * A chat the caller does not belong to is answered exactly like a chat that does not exist
 * (`NOT_FOUND`), so ids cannot be probed. Only participants read, post, sync and type; only the
 * sender edits; the sender or an admin deletes, an admin in any chat. Any participant adds
 * members; a participant may leave; the chat's creator and admins remove others.
 */
@Injectable()
export class ChatService implements OnModuleDestroy {
  private readonly typing: TypingTracker;

  /** The one way out to clients: `data` is typed by the event (`ChatServerPayloads`). */
  private readonly channel: RealtimeChannel<ChatServerPayloads>;

  constructor(
    private readonly chats: ChatRepository,
    private readonly realtime: RealtimeServer,
    private readonly config: AppConfig,
  ) {
    this.channel = realtime.channel<ChatServerPayloads>(CHAT_NAMESPACE);
    this.typing = new TypingTracker({
      idleMs: config.chat.typingIdleMs,
      rebroadcastMs: ChatLimits.typingRebroadcastMs,
      onIdle: (key) => this.announceTyping(key, false),
    });
  }

  onModuleDestroy(): void {
    this.typing.clear();
  }

  /** The rooms of the chats `userId` belongs to, which their sockets join on connect. */
  async chatRoomsOf(userId: string): Promise<string[]> {
    return (await this.chats.chatIdsForUser(userId)).map(chatRoom);
  }

  /** Creates a chat with the creator among its participants and tells every participant. */
  async createChat(actor: ChatActor, request: CreateChatRequest): Promise<Chat> {
    const chat = await this.chats.createChat({
      title: request.title ?? null,
      participantIds: [actor.userId, ...request.participantIds],
      createdBy: actor.userId,
    });
    const participantRooms = chat.participantIds.map(userRoom);
    this.namespace()?.in(participantRooms).socketsJoin(chatRoom(chat.id));
    this.channel.emit({ rooms: participantRooms }, ChatEvent.ChatCreated, chat);
    return chat;
  }

  /** The caller's chats, latest activity first, each with its last message and unread count. */
  listChats(actor: ChatActor): Promise<ChatSummary[]> {
    return this.chats.listChatsForUser(actor.userId);
  }

  async getChat(actor: ChatActor, chatId: string): Promise<Chat> {
    const chat = await this.chats.findChat(chatId);
    if (!chat?.participantIds.includes(actor.userId)) throw chatNotFound(chatId);
    return chat;
  }

  /**
   * Adds `userId` to the chat; their sockets join the chat's room on every instance. Adding a
   * member again changes nothing and broadcasts nothing.
   */
  async addMember(actor: ChatActor, chatId: string, userId: string): Promise<MemberAddition> {
    await this.requireParticipant(actor, chatId);
    const added = await this.chats.addMember(chatId, userId);
    const chat = await this.chats.findChat(chatId);
    if (!chat) throw chatNotFound(chatId);
    if (added) {
      this.namespace()?.in(userRoom(userId)).socketsJoin(chatRoom(chatId));
      this.channel.emit({ rooms: [chatRoom(chatId), userRoom(userId)] }, ChatEvent.MemberAdded, {
        chatId,
        userId,
        addedBy: actor.userId,
        chat,
      });
    }
    return { chat, added };
  }

  /** Removes `userId` from the chat; their sockets leave its room on every instance. */
  async removeMember(actor: ChatActor, chatId: string, userId: string): Promise<MemberRemovedPayload> {
    const chat = await this.chats.findChat(chatId);
    const isAdmin = isAdministrator(actor);
    if (!chat || (!isAdmin && !chat.participantIds.includes(actor.userId))) throw chatNotFound(chatId);
    if (userId !== actor.userId && chat.createdBy !== actor.userId && !isAdmin) {
      throw AppError.forbidden('Only the chat’s creator or an admin may remove other members');
    }
    if (!(await this.chats.removeMember(chatId, userId))) {
      throw AppError.notFound(`User ${userId} is not a member of chat ${chatId}`);
    }
    this.namespace()?.in(userRoom(userId)).socketsLeave(chatRoom(chatId));
    const removal: MemberRemovedPayload = { chatId, userId, removedBy: actor.userId };
    this.channel.emit({ rooms: [chatRoom(chatId), userRoom(userId)] }, ChatEvent.MemberRemoved, removal);
    this.endTyping({ chatId, userId });
    return removal;
  }

  /**
   * Stores a message and broadcasts it to the chat. With a `clientId` the sender already used in
   * this chat, nothing is stored or broadcast again and the stored message is returned
   * (`created: false`).
   */
  async sendMessage(actor: ChatActor, request: SendMessageRequest): Promise<InsertMessageResult> {
    const content = this.checkContent(request.content);
    await this.requireParticipant(actor, request.chatId);
    const result = await this.chats.insertMessage({
      chatId: request.chatId,
      senderId: actor.userId,
      content,
      clientId: request.clientId,
    });
    if (result.created) {
      this.channel.emit({ rooms: [chatRoom(request.chatId)] }, ChatEvent.NewMessage, result.message);
      this.endTyping({ chatId: request.chatId, userId: actor.userId });
    }
    return result;
  }

  /** `inChatId` scopes the message to a chat, as REST paths do. */
  async editMessage(actor: ChatActor, request: EditMessageRequest, inChatId?: string): Promise<ChatMessage> {
    const content = this.checkContent(request.content);
    const message = await this.findVisibleMessage(actor, request.messageId, inChatId);
    if (message.senderId !== actor.userId) throw AppError.forbidden('Only the sender may edit a message');
    const result = await this.chats.editMessage(message.id, content, new Date());
    switch (result.status) {
      case 'edited':
        this.channel.emit({ rooms: [chatRoom(message.chatId)] }, ChatEvent.MessageEdited, result.message);
        return result.message;
      case 'was_deleted':
        throw AppError.conflict(`Message ${message.id} was deleted and cannot be edited`);
      case 'not_found':
        throw messageNotFound(message.id);
    }
  }

  /**
   * Drops the message's content and keeps its id. Deleting a deleted message answers it again
   * without a second broadcast. `inChatId` scopes the message to a chat, as REST paths do.
   */
  async deleteMessage(
    actor: ChatActor,
    request: DeleteMessageRequest,
    inChatId?: string,
  ): Promise<ChatMessage> {
    const message = isAdministrator(actor)
      ? await this.findMessage(request.messageId, inChatId)
      : await this.findVisibleMessage(actor, request.messageId, inChatId);
    if (message.senderId !== actor.userId && !isAdministrator(actor)) {
      throw AppError.forbidden('Only the sender or an admin may delete a message');
    }
    const result = await this.chats.deleteMessage(message.id, new Date());
    switch (result.status) {
      case 'deleted':
        this.channel.emit({ rooms: [chatRoom(message.chatId)] }, ChatEvent.MessageDeleted, result.message);
        return result.message;
      case 'already_deleted':
        return result.message;
      case 'not_found':
        throw messageNotFound(message.id);
    }
  }

  /**
   * Moves the caller's read position forward to `messageId` (never backwards) and tells the chat
   * when it moved there. Answers the position in effect.
   */
  async markRead(actor: ChatActor, request: ReadMessageRequest): Promise<ReadReceipt> {
    await this.requireParticipant(actor, request.chatId);
    const position = await this.chats.markRead(request.chatId, actor.userId, request.messageId);
    if (position === null) throw messageNotFound(request.messageId);
    const receipt: ReadReceipt = { chatId: request.chatId, userId: actor.userId, messageId: position };
    if (position === request.messageId)
      this.channel.emit({ rooms: [chatRoom(request.chatId)] }, ChatEvent.Read, receipt);
    return receipt;
  }

  /**
   * One page of the chat's messages, oldest first: right after `after`, right before `before`,
   * or the latest. `limit` defaults to `ChatLimits.defaultPageSize`, at most `maxPageSize`.
   */
  async listMessages(actor: ChatActor, chatId: string, query: MessagesQuery): Promise<MessagePage> {
    const cursors = (['before', 'after', 'afterSeq'] as const).filter((name) => query[name] !== undefined);
    if (cursors.length > 1) throw exclusiveFields(cursors);
    await this.requireParticipant(actor, chatId);
    const limit = pageSize(query.limit);
    if (query.afterSeq !== undefined) return this.chats.findMessagesAfterSeq(chatId, query.afterSeq, limit);
    return query.after !== undefined
      ? this.chats.findMessagesAfter(chatId, query.after, limit)
      : this.chats.findMessagesBefore(chatId, query.before, limit);
  }

  /**
   * Catching up (docs/protocol.md, Recovery): the messages after the client's position, in
   * order, and with `since`, those it holds that were edited or deleted since then.
   */
  async sync(actor: ChatActor, request: SyncRequest): Promise<SyncPage> {
    const { chatId, afterSeq, afterMessageId, since } = request;
    if (afterSeq !== undefined && afterMessageId !== undefined) {
      throw exclusiveFields(['afterSeq', 'afterMessageId']);
    }
    const changedSince = since === undefined ? undefined : new Date(since);
    if (changedSince !== undefined && (afterSeq === undefined || Number.isNaN(changedSince.getTime()))) {
      const problem = 'since needs afterSeq and an ISO-8601 time';
      throw AppError.validation(problem, [{ field: 'since', problems: [problem] }]);
    }
    if (afterSeq === undefined) {
      return this.listMessages(actor, chatId, { after: afterMessageId ?? 0, limit: request.limit });
    }
    const page = await this.listMessages(actor, chatId, { afterSeq, limit: request.limit });
    if (changedSince === undefined) return page;
    const changed = await this.chats.findMessagesChangedSince(
      chatId,
      changedSince,
      afterSeq,
      pageSize(request.limit),
    );
    return { ...page, changed: changed.messages, hasMoreChanged: changed.hasMore };
  }

  /**
   * Starts or refreshes the caller's typing state in the chat from `socketId`, whose disconnect
   * ends it. Announced to the chat, except the caller's own sockets, at most once per
   * `ChatLimits.typingRebroadcastMs`; ends by itself after `CHAT_TYPING_IDLE_MS` without a refresh.
   */
  async startTyping(actor: ChatActor, chatId: string, socketId: string): Promise<TypingState> {
    await this.requireParticipant(actor, chatId);
    const key: TypingKey = { chatId, userId: actor.userId };
    if (this.typing.touch(key, socketId)) this.announceTyping(key, true);
    return { ...key, isTyping: true };
  }

  async stopTyping(actor: ChatActor, chatId: string): Promise<TypingState> {
    await this.requireParticipant(actor, chatId);
    const key: TypingKey = { chatId, userId: actor.userId };
    this.endTyping(key);
    return { ...key, isTyping: false };
  }

  /** Ends the typing states a socket started, when it disconnects. */
  endTypingOf(socketId: string): void {
    for (const key of this.typing.endAllOf(socketId)) this.announceTyping(key, false);
  }

  private endTyping(key: TypingKey): void {
    if (this.typing.end(key)) this.announceTyping(key, false);
  }

  private announceTyping(key: TypingKey, isTyping: boolean): void {
    const state: TypingState = { chatId: key.chatId, userId: key.userId, isTyping };
    const audience = { rooms: [chatRoom(key.chatId)], except: userRoom(key.userId) };
    if (isTyping) this.channel.emit(audience, ChatEvent.Typing, state);
    else this.channel.emit(audience, ChatEvent.StopTyping, state);
  }

  private async requireParticipant(actor: ChatActor, chatId: string): Promise<void> {
    if (!(await this.chats.isParticipant(chatId, actor.userId))) throw chatNotFound(chatId);
  }

  private async findMessage(messageId: number, inChatId: string | undefined): Promise<ChatMessage> {
    const message = await this.chats.findMessage(messageId);
    if (!message || (inChatId !== undefined && message.chatId !== inChatId)) {
      throw messageNotFound(messageId);
    }
    return message;
  }

  /** A message of a chat the actor belongs to; any other answers like an unknown id. */
  private async findVisibleMessage(
    actor: ChatActor,
    messageId: number,
    inChatId: string | undefined,
  ): Promise<ChatMessage> {
    const message = await this.findMessage(messageId, inChatId);
    if (!(await this.chats.isParticipant(message.chatId, actor.userId))) throw messageNotFound(messageId);
    return message;
  }

  /** Both transports reach content only through here, so the one rule holds for every caller. */
  private checkContent(content: string): string {
    const problem = contentProblem(content, this.config.chat.maxContentLength);
    if (problem) throw AppError.validation(problem, [{ field: 'content', problems: [problem] }]);
    return content;
  }

  /** Null until the Socket.IO server exists: before that no socket can be listening. */
  private namespace(): Namespace | null {
    return this.realtime.isReady ? this.realtime.namespace(CHAT_NAMESPACE) : null;
  }
}

function isAdministrator(actor: ChatActor): boolean {
  return hasAnyRole(actor.roles, [Role.Admin]);
}

function pageSize(limit: number | undefined): number {
  return Math.min(limit ?? ChatLimits.defaultPageSize, ChatLimits.maxPageSize);
}

function exclusiveFields(fields: readonly string[]): AppError {
  const problem = `${fields.join(' and ')} cannot be combined`;
  return AppError.validation(problem, [{ field: fields.at(-1) ?? '', problems: [problem] }]);
}

function chatNotFound(chatId: string): AppError {
  return AppError.notFound(`Chat ${chatId} not found`);
}

function messageNotFound(messageId: number): AppError {
  return AppError.notFound(`Message ${messageId} not found`);
}
