import {
  NotificationRepository,
  type InboxQuery,
  type NewNotifications,
  type PublishReceipt,
} from '../../src/notifications/notification.repository.js';
import type { Notification, NotificationLevel } from '../../src/notifications/notifications.events.js';

interface StoredNotification {
  id: number;
  /** Null for a broadcast. */
  userId: string | null;
  title: string;
  body: string;
  level: NotificationLevel;
  /** JSON text, as the database keeps it, so that the double round-trips `data` alike. */
  data: string | null;
  createdAt: number;
}

interface StoredReceipt {
  /** JSON text of the first answer; null while pending. */
  result: string | null;
  createdAt: number;
}

/**
 * The `NotificationRepository` contract in memory, for unit tests of what sits on top of it. The
 * repository contract suite runs against it as against every database, so it behaves as the
 * real adapter does (ids never reused, broadcasts as one notification with per-user read state,
 * `data` through JSON). It is strict where the port forbids arguments (a page size below 1, a
 * fractional cursor): those throw instead of being tolerated. Every result is a copy.
 */
export class InMemoryNotificationRepository extends NotificationRepository {
  /** In insertion order, which is id order. */
  private readonly notifications = new Map<number, StoredNotification>();
  /** Per user: the notifications they marked read one by one. */
  private readonly reads = new Map<string, Set<number>>();
  /** Per user: every notification they can see up to this id is read. */
  private readonly readCursors = new Map<string, number>();
  private readonly receipts = new Map<string, StoredReceipt>();
  private lastId = 0;
  /** Makes the next `insert` fail, as a database that went away would. */
  failNextInsert: Error | null = null;

  insert({ to, title, body, level, data, createdAt }: NewNotifications): Promise<Notification[]> {
    if (this.failNextInsert) {
      const failure = this.failNextInsert;
      this.failNextInsert = null;
      return Promise.reject(failure);
    }
    const recipients: (string | null)[] = 'broadcast' in to ? [null] : [...new Set(to.userIds)];
    const stored = recipients.map((userId) => {
      this.lastId += 1;
      const notification: StoredNotification = {
        id: this.lastId,
        userId,
        title,
        body,
        level,
        data: serializeData(data),
        createdAt: createdAt.getTime(),
      };
      this.notifications.set(notification.id, notification);
      return notification;
    });
    return Promise.resolve(stored.map((notification) => toNotification(notification, false)));
  }

  inbox(
    userId: string,
    { unreadOnly, before, limit }: InboxQuery,
  ): Promise<{ notifications: Notification[]; hasMore: boolean }> {
    requirePageSize(limit);
    if (before !== undefined) requireId(before);
    const matching = this.visibleTo(userId)
      .filter((notification) => before === undefined || notification.id < before)
      .filter((notification) => !unreadOnly || !this.isRead(userId, notification.id))
      .reverse();
    return Promise.resolve(this.page(userId, matching, limit));
  }

  after(
    userId: string,
    afterId: number,
    limit: number,
  ): Promise<{ notifications: Notification[]; hasMore: boolean }> {
    requirePageSize(limit);
    requireId(afterId);
    const matching = this.visibleTo(userId).filter((notification) => notification.id > afterId);
    return Promise.resolve(this.page(userId, matching, limit));
  }

  unreadCount(userId: string): Promise<number> {
    return Promise.resolve(this.unreadOf(userId).length);
  }

  markRead(userId: string, notificationId: number, at: Date): Promise<Notification | null> {
    void at;
    const notification = this.notifications.get(notificationId);
    if (!notification || !isVisibleTo(notification, userId)) return Promise.resolve(null);
    if (!this.isRead(userId, notificationId)) {
      const reads = this.reads.get(userId) ?? new Set<number>();
      reads.add(notificationId);
      this.reads.set(userId, reads);
    }
    return Promise.resolve(toNotification(notification, true));
  }

  markAllRead(userId: string, at: Date): Promise<number> {
    void at;
    const unread = this.unreadOf(userId).length;
    const upTo = Math.max(this.readCursors.get(userId) ?? 0, ...this.visibleTo(userId).map(({ id }) => id));
    this.readCursors.set(userId, upTo);
    const reads = this.reads.get(userId);
    for (const id of reads ?? []) if (id <= upTo) reads?.delete(id);
    return Promise.resolve(unread);
  }

  deleteCreatedBefore(before: Date): Promise<number> {
    let deleted = 0;
    for (const [id, notification] of this.notifications) {
      if (notification.createdAt >= before.getTime()) continue;
      this.notifications.delete(id);
      for (const reads of this.reads.values()) reads.delete(id);
      deleted += 1;
    }
    return Promise.resolve(deleted);
  }

  claimReceipt(actorId: string, key: string, at: Date): Promise<PublishReceipt> {
    const stored = this.receipts.get(receiptKey(actorId, key));
    if (!stored) {
      this.receipts.set(receiptKey(actorId, key), { result: null, createdAt: at.getTime() });
      return Promise.resolve({ status: 'new' });
    }
    return Promise.resolve(
      stored.result === null
        ? { status: 'pending' }
        : { status: 'done', result: JSON.parse(stored.result) as unknown },
    );
  }

  completeReceipt(actorId: string, key: string, result: unknown): Promise<void> {
    const stored = this.receipts.get(receiptKey(actorId, key));
    if (stored && stored.result === null) stored.result = serializeData(result) ?? 'null';
    return Promise.resolve();
  }

  releaseReceipt(actorId: string, key: string): Promise<void> {
    if (this.receipts.get(receiptKey(actorId, key))?.result === null) {
      this.receipts.delete(receiptKey(actorId, key));
    }
    return Promise.resolve();
  }

  deleteReceiptsBefore(before: Date): Promise<number> {
    let deleted = 0;
    for (const [key, receipt] of this.receipts) {
      if (receipt.createdAt >= before.getTime()) continue;
      this.receipts.delete(key);
      deleted += 1;
    }
    return Promise.resolve(deleted);
  }

  /** Every stored notification, as a recipient would see it unread, read without the port. */
  storedNotifications(): Notification[] {
    return [...this.notifications.values()].map((notification) => toNotification(notification, false));
  }

  private page(
    userId: string,
    matching: StoredNotification[],
    limit: number,
  ): { notifications: Notification[]; hasMore: boolean } {
    return {
      notifications: matching
        .slice(0, limit)
        .map((notification) => toNotification(notification, this.isRead(userId, notification.id))),
      hasMore: matching.length > limit,
    };
  }

  /** The user's own and the broadcast notifications, oldest first. */
  private visibleTo(userId: string): StoredNotification[] {
    return [...this.notifications.values()].filter((notification) => isVisibleTo(notification, userId));
  }

  private unreadOf(userId: string): StoredNotification[] {
    return this.visibleTo(userId).filter((notification) => !this.isRead(userId, notification.id));
  }

  private isRead(userId: string, notificationId: number): boolean {
    return (
      notificationId <= (this.readCursors.get(userId) ?? 0) ||
      (this.reads.get(userId)?.has(notificationId) ?? false)
    );
  }
}

function isVisibleTo(notification: StoredNotification, userId: string): boolean {
  return notification.userId === null || notification.userId === userId;
}

function toNotification(notification: StoredNotification, read: boolean): Notification {
  return {
    id: notification.id,
    ...(notification.userId !== null && { userId: notification.userId }),
    title: notification.title,
    body: notification.body,
    level: notification.level,
    data: notification.data === null ? null : (JSON.parse(notification.data) as unknown),
    timestamp: new Date(notification.createdAt).toISOString(),
    read,
  };
}

function serializeData(data: unknown): string | null {
  if (data === undefined) return null;
  const text = JSON.stringify(data) as string | undefined;
  return text ?? null;
}

function receiptKey(actorId: string, key: string): string {
  return JSON.stringify([actorId, key]);
}

function requirePageSize(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`Contract violated: page size ${limit}`);
}

function requireId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 0) throw new Error(`Contract violated: notification id ${id}`);
}
