import type { AckResponse, Envelope } from '../common/envelope.js';
import type { Chat, ChatMessage, ChatSummary, SyncPage } from './chat.types.js';

export type { Chat, ChatMessage, ChatSummary, MessagePage, ReadPosition, SyncPage } from './chat.types.js';

export const CHAT_NAMESPACE = '/chat';

/** Events of the `/chat` namespace (docs/protocol.md, Chat). */
export const ChatEvent = {
  /** client → server `{ chatId, content, clientId? }`, ack → the stored message. */
  SendMessage: 'message:send',
  /** client → server `{ messageId, content }`, ack → the edited message. Sender only. */
  EditMessage: 'message:edit',
  /** client → server `{ messageId }`, ack → the deleted message. Sender or admin. */
  DeleteMessage: 'message:delete',
  /**
   * client → server `{ chatId, messageId }`, ack → the reader's position; server → client to
   * the chat when a member's position moves.
   */
  Read: 'message:read',
  /** client → server `{ chatId }`; server → client to the chat, never to the typist's sockets. */
  Typing: 'user:typing',
  /** client → server `{ chatId }`; server → client as `Typing`, also when a typing state lapses. */
  StopTyping: 'user:stop-typing',
  /**
   * client → server `{ chatId, afterSeq? | afterMessageId?, since?, limit? }`, ack →
   * `{ messages, hasMore, changed?, hasMoreChanged? }`.
   */
  Sync: 'chat:sync',
  /** server → client, to the chat, once the message is stored. */
  NewMessage: 'message:new',
  MessageEdited: 'message:edited',
  MessageDeleted: 'message:deleted',
  /** server → client, to every participant of a new chat. */
  ChatCreated: 'chat:created',
  /** server → client, to the chat and to every socket of the new member. */
  MemberAdded: 'chat:member-added',
  /** server → client, to the chat and to every socket of the removed member. */
  MemberRemoved: 'chat:member-removed',
} as const;

/**
 * Bounds every request is checked against. The content limit and the typing idle time come from
 * `CHAT_MAX_CONTENT` and `CHAT_TYPING_IDLE_MS`.
 */
export const ChatLimits = {
  defaultPageSize: 50,
  maxPageSize: 200,
  maxParticipants: 500,
  maxUserIdLength: 256,
  maxChatIdLength: 64,
  maxTitleLength: 200,
  maxClientIdLength: 128,
  /** Typing refreshes closer together than this are not broadcast again. */
  typingRebroadcastMs: 1000,
} as const;

export interface SendMessageRequest {
  chatId: string;
  content: string;
  /** Chosen by the client; the same one twice in a chat stores the message once. */
  clientId?: string;
}

export interface EditMessageRequest {
  messageId: number;
  content: string;
}

export interface DeleteMessageRequest {
  messageId: number;
}

export interface ReadMessageRequest {
  chatId: string;
  messageId: number;
}

export interface TypingRequest {
  chatId: string;
}

export interface SyncRequest {
  chatId: string;
  /**
   * The `seq` up to which the client holds the chat without a gap; 0 for everything. Excludes
   * `afterMessageId`.
   */
  afterSeq?: number;
  /** The last message the client holds; from the chat's first message without either. */
  afterMessageId?: number;
  /**
   * ISO-8601: also answer, in `changed`, the messages up to `afterSeq` edited or deleted since
   * then (`sync:required`'s `since`). Only with `afterSeq`.
   */
  since?: string;
  limit?: number;
}

export interface CreateChatRequest {
  /** The creator is always a participant, listed here or not. */
  participantIds: string[];
  title?: string;
}

export interface AddMemberRequest {
  userId: string;
}

export interface PostMessageRequest {
  content: string;
  clientId?: string;
}

export interface EditContentRequest {
  content: string;
}

export interface MarkReadRequest {
  messageId: number;
}

/**
 * `GET /api/chats/:id/messages`: `before`, `after` (message ids) and `afterSeq` exclude each
 * other; none gives the latest.
 */
export interface MessagesQuery {
  before?: number;
  after?: number;
  afterSeq?: number;
  limit?: number;
}

/** A member's read position: every message of the chat up to `messageId` is read. */
export interface ReadReceipt {
  chatId: string;
  userId: string;
  messageId: number;
}

export interface TypingState {
  chatId: string;
  userId: string;
  isTyping: boolean;
}

export interface MemberAddedPayload {
  chatId: string;
  userId: string;
  addedBy: string;
  /** The chat with its new participant list. */
  chat: Chat;
}

export interface MemberRemovedPayload {
  chatId: string;
  userId: string;
  removedBy: string;
}

/** `POST /api/chats/:id/members` and the same change made by an importing service. */
export interface MemberAddition {
  chat: Chat;
  /** False when the user already was a member: nothing changed and nothing was broadcast. */
  added: boolean;
}

/** What the server sends on `/chat`, each wrapped in `{ type, data, timestamp }`. */
export interface ChatServerPayloads {
  [ChatEvent.NewMessage]: ChatMessage;
  [ChatEvent.MessageEdited]: ChatMessage;
  [ChatEvent.MessageDeleted]: ChatMessage;
  [ChatEvent.Read]: ReadReceipt;
  [ChatEvent.Typing]: TypingState;
  [ChatEvent.StopTyping]: TypingState;
  [ChatEvent.ChatCreated]: Chat;
  [ChatEvent.MemberAdded]: MemberAddedPayload;
  [ChatEvent.MemberRemoved]: MemberRemovedPayload;
}

/** What a client may send on `/chat` and what a successful ack carries. */
export interface ChatRequests {
  [ChatEvent.SendMessage]: { payload: SendMessageRequest; result: ChatMessage };
  [ChatEvent.EditMessage]: { payload: EditMessageRequest; result: ChatMessage };
  [ChatEvent.DeleteMessage]: { payload: DeleteMessageRequest; result: ChatMessage };
  [ChatEvent.Read]: { payload: ReadMessageRequest; result: ReadReceipt };
  [ChatEvent.Typing]: { payload: TypingRequest; result: TypingState };
  [ChatEvent.StopTyping]: { payload: TypingRequest; result: TypingState };
  [ChatEvent.Sync]: { payload: SyncRequest; result: SyncPage };
}

export type ChatServerEvent = keyof ChatServerPayloads;

/**
 * Typed event maps for Socket.IO on both ends: the server's namespace is
 * `Namespace<ChatClientToServerEvents, ChatServerToClientEvents>`, a socket.io-client socket
 * `Socket<ChatServerToClientEvents, ChatClientToServerEvents>`. The ack is optional on the wire;
 * the maps require it so that `emitWithAck` types its answer.
 */
export type ChatServerToClientEvents = {
  [E in ChatServerEvent]: (event: Envelope<E, ChatServerPayloads[E]>) => void;
};

export type ChatClientToServerEvents = {
  [E in keyof ChatRequests]: (
    payload: ChatRequests[E]['payload'],
    ack: (response: AckResponse<ChatRequests[E]['result']>) => void,
  ) => void;
};

/** `GET /api/chats`. */
export interface ChatList {
  chats: ChatSummary[];
}
