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
  senderId: string;
  /** Null once the message is deleted. */
  content: string | null;
  clientId?: string;
  /** ISO-8601, as are the other timestamps. */
  createdAt: string;
  editedAt?: string;
  deletedAt?: string;
}

export type ChatSummary = Chat & {
  /** The chat's latest message, deleted or not. */
  lastMessage: ChatMessage | null;
  /** Messages after the user's read position, sent by others and not deleted. */
  unreadCount: number;
};

/** One page of a chat's messages, oldest first. */
export interface MessagePage {
  messages: ChatMessage[];
  /** Whether more messages lie beyond the page, in the direction it was read. */
  hasMore: boolean;
}
