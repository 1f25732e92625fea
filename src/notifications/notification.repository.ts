import type { Notification, NotificationLevel } from './notifications.events.js';

export interface NewNotifications {
  /** One notification per user, or one for everyone. */
  to: { userIds: readonly string[] } | { broadcast: true };
  title: string;
  body: string;
  level: NotificationLevel;
  /** Stored as JSON; undefined reads back as null. */
  data: unknown;
  createdAt: Date;
}

export interface InboxQuery {
  unreadOnly: boolean;
  /** Only notifications with a smaller id. */
  before?: number;
  /** ≥ 1. */
  limit: number;
}

/** A publish answered once under its idempotency key, or still in progress. */
export type PublishReceipt = { status: 'new' } | { status: 'done'; result: unknown } | { status: 'pending' };

/**
 * Storage of notifications and their read state (docs/protocol.md, Notifications). A user's inbox
 * is every notification addressed to them plus every broadcast one, whenever the user first
 * appeared: a broadcast is one row, and read state is kept per user only once they read. A
 * notification the user cannot see answers like one that does not exist. A database that cannot
 * be reached makes every method reject with `AppError` `SERVICE_UNAVAILABLE`.
 */
export abstract class NotificationRepository {
  /** Stores them, in one statement; answers them as their recipients see them (unread). */
  abstract insert(notifications: NewNotifications): Promise<Notification[]>;

  /** The user's inbox, newest first, and how many of it are unread. */
  abstract inbox(
    userId: string,
    query: InboxQuery,
  ): Promise<{ notifications: Notification[]; hasMore: boolean }>;

  /** The user's notifications with an id greater than `afterId`, oldest first. */
  abstract after(
    userId: string,
    afterId: number,
    limit: number,
  ): Promise<{ notifications: Notification[]; hasMore: boolean }>;

  abstract unreadCount(userId: string): Promise<number>;

  /** Marks one read for the user (again: no change); null when the user cannot see it. */
  abstract markRead(userId: string, notificationId: number, at: Date): Promise<Notification | null>;

  /** Marks every notification the user can see read; answers how many were unread. */
  abstract markAllRead(userId: string, at: Date): Promise<number>;

  /** Deletes notifications created before `before` (retention); answers how many. */
  abstract deleteCreatedBefore(before: Date): Promise<number>;

  /**
   * Claims `key` for `actorId`'s publish: `new` the first time (the caller publishes, then
   * `completeReceipt`), `done` with the first result after, `pending` while the first is running.
   */
  abstract claimReceipt(actorId: string, key: string, at: Date): Promise<PublishReceipt>;

  abstract completeReceipt(actorId: string, key: string, result: unknown): Promise<void>;

  /** Gives up a claim whose publish failed, so that a retry may run it. */
  abstract releaseReceipt(actorId: string, key: string): Promise<void>;

  /** Deletes receipts claimed before `before`; answers how many. */
  abstract deleteReceiptsBefore(before: Date): Promise<number>;
}
