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

export interface NotificationsTable {
  /** Global autoincrement, never reused: clients hold ids as sync cursors. */
  id: Generated<number>;
  /** The recipient; null for a broadcast notification (one row for everyone). */
  user_id: string | null;
  title: string;
  body: string;
  /** `info`, `success`, `warning`, `error` or `critical`. */
  level: string;
  /** JSON text; null when there is none. */
  data: string | null;
  created_at: EpochMillis;
}

/** One row per notification a user marked read one by one, above their read-all cursor. */
export interface NotificationReadsTable {
  notification_id: number;
  user_id: string;
  read_at: EpochMillis;
}

/** Read-all: every notification the user can see with an id up to `read_up_to_id` is read. */
export interface NotificationReadCursorsTable {
  user_id: string;
  read_up_to_id: number;
  updated_at: EpochMillis;
}

/** A publish under an idempotency key, per actor: pending while `result` is null. */
export interface PublishReceiptsTable {
  actor_id: string;
  idempotency_key: string;
  /** JSON text of the first answer; null while the first publish runs. */
  result: string | null;
  created_at: EpochMillis;
}

/** One admin action (docs/protocol.md, Admin); rows are only ever inserted. */
export interface AdminAuditTable {
  /** Global autoincrement, never reused: the audit page's cursor. */
  id: Generated<number>;
  /** The admin's user id. */
  actor_id: string;
  /** `user.disconnected`, `broadcast`, `session.revoked`. */
  action: string;
  /** The user or session acted on; null for a broadcast. */
  target: string | null;
  reason: string | null;
  /** JSON text of what else the action said and found. */
  details: string;
  /** The admin's client address. */
  address: string | null;
  /** `socket` or `rest`. */
  via: string;
  created_at: EpochMillis;
}

/** The whole database, as Kysely sees it. Every query in the code base is typed from this. */
export interface DatabaseSchema {
  chats: ChatsTable;
  chat_members: ChatMembersTable;
  chat_messages: ChatMessagesTable;
  chat_read_states: ChatReadStatesTable;
  user_presence: UserPresenceTable;
  notifications: NotificationsTable;
  notification_reads: NotificationReadsTable;
  notification_read_cursors: NotificationReadCursorsTable;
  publish_receipts: PublishReceiptsTable;
  admin_audit: AdminAuditTable;
}
