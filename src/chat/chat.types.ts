/** A conversation between participants (docs/protocol.md, Chat). */
export interface Chat {
  /** UUID v4. */
  id: string;
  title: string | null;
  /** In the order they joined; those who joined together are ordered by user id. */
  participantIds: string[];
  createdBy: string;
  /** ISO-8601. */
  createdAt: string;
}

/**
 * A message as sent on the wire (docs/protocol.md, Chat). Optional fields are absent, never null, when
 * unset.
 */
export interface ChatMessage {
  /** Positive integer; a later message of the same chat always has a greater id. */
  id: number;
  chatId: string;
  /**
   * 1, 2, 3, … within the chat, without gaps, in the order messages were stored. Edits and
   * deletes keep it. A jump means messages were missed (`chat:sync { afterSeq }` fetches them);
   * a lower one than the client holds is a late arrival, not a duplicate.
   */
  seq: number;
  senderId: string;
  /** Null once the message is deleted. */
  content: string | null;
  clientId?: string;
  /** ISO-8601, as are the other timestamps. */
  createdAt: string;
  editedAt?: string;
  deletedAt?: string;
}

/** Where a member has read up to: every message of the chat up to `messageId`. */
export interface ReadPosition {
  userId: string;
  messageId: number;
}

export type ChatSummary = Chat & {
  /** The chat's latest message, deleted or not. */
  lastMessage: ChatMessage | null;
  /** The `seq` of the chat's latest message; 0 before the first. */
  lastSeq: number;
  /** Messages after the user's read position, sent by others and not deleted. */
  unreadCount: number;
  /** The members who have read something, by user id. */
  readPositions: ReadPosition[];
};

/**
 * `chat:sync`'s answer: the messages after the client's position (a page, oldest first) and,
 * when asked with `since`, those at or before it that were edited or deleted since then.
 */
export interface SyncPage extends MessagePage {
  /** In the order they changed; present when the request gave `since`. */
  changed?: ChatMessage[];
  /** Whether more changes follow; ask again with `since` set to the last one's change time. */
  hasMoreChanged?: boolean;
}

/** One page of a chat's messages, oldest first. */
export interface MessagePage {
  messages: ChatMessage[];
  /** Whether more messages lie beyond the page, in the direction it was read. */
  hasMore: boolean;
}
