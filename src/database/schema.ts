import type { Generated } from 'kysely';

/**
 * Milliseconds since the Unix epoch (UTC), stored as a 64-bit integer so that ordering is exact
 * and identical on SQLite and PostgreSQL.
 */
export type EpochMillis = number;

export interface ChatsTable {
  id: string;
  title: string | null;
  created_by: string;
  created_at: EpochMillis;
  /** The latest `seq` given to a message of this chat; 0 before the first. */
  last_seq: Generated<number>;
}

export interface ChatMembersTable {
  chat_id: string;
  user_id: string;
  joined_at: EpochMillis;
}

export interface ChatMessagesTable {
  /** Global autoincrement, so ids also increase within every chat. */
  id: Generated<number>;
  chat_id: string;
  /** 1, 2, 3, … within the chat, without gaps, in the order messages were stored. */
  seq: number;
  sender_id: string;
  /** Null once the message is deleted. */
  content: string | null;
  client_id: string | null;
  created_at: EpochMillis;
  edited_at: EpochMillis | null;
  deleted_at: EpochMillis | null;
}

export interface ChatReadStatesTable {
  chat_id: string;
  user_id: string;
  last_read_message_id: number;
  updated_at: EpochMillis;
}

export interface UserPresenceTable {
  user_id: string;
  /** The status the user chose (`online`, `away`, `busy`, `invisible`). */
  status: string;
  /** When the user's last connection closed (or they went invisible); null if never seen. */
  last_seen_at: EpochMillis | null;
  updated_at: EpochMillis;
}

/** The whole database, as Kysely sees it. Every query in the code base is typed from this. */
export interface DatabaseSchema {
  chats: ChatsTable;
  chat_members: ChatMembersTable;
  chat_messages: ChatMessagesTable;
  chat_read_states: ChatReadStatesTable;
  user_presence: UserPresenceTable;
}
