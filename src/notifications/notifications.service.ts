import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { AppError } from '../common/errors.js';
import { errorMessage, guarded } from '../common/failure-log.js';
import { AppConfig } from '../config/app-config.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import { eventTypeProblem } from './event-patterns.js';
import type { EventAudience } from './event-router.js';
import { LiveDelivery, type LocalRecipients } from './live-delivery.js';
import { NotificationRepository } from './notification.repository.js';
import {
  NotificationsLimits,
  type LiveMessage,
  type Notification,
  type NotificationPage,
  type NotificationSyncPage,
  type NotifyRequest,
  type PublishEventRequest,
  type PublishedEvent,
  type PublishResult,
  type Recipients,
  type SendMessageToUsersRequest,
} from './notifications.events.js';

/** Makes a publish idempotent: the same key from the same actor answers the first result. */
export interface PublishOptions {
  idempotencyKey?: string;
  /** Whose keys these are (the caller's user id); keys of different actors never collide. */
  actorId?: string;
}

export interface EventPublication extends PublishResult {
  event: PublishedEvent;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Idempotency keys are honoured for a day. */
const RECEIPT_TTL_MS = DAY_MS;
const RETENTION_SWEEP_MS = 60 * 60 * 1000;

/**
 * Events, notifications and messages (docs/protocol.md, Notifications), for REST, the gateway,
 * the plain-WebSocket door and importing services alike.
 * - Events are live only: matched to subscriptions on every instance, never stored.
 * - Notifications are stored before they are delivered, one row per user or one for everyone,
 *   and form each user's inbox with its read state; a client that missed some live (offline,
 *   or a Redis outage) finds them with `notifications:sync`.
 * - Messages are live only, flat, with the sender's own `type`.
 */
@Injectable()
export class NotificationsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(NotificationsService.name);
  private retentionTimer?: NodeJS.Timeout;

  constructor(
    private readonly repository: NotificationRepository,
    private readonly delivery: LiveDelivery,
    private readonly registry: ConnectionRegistry,
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.retentionTimer = setInterval(
      guarded('apply notification retention', () => this.applyRetention()),
      RETENTION_SWEEP_MS,
    );
    this.retentionTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.retentionTimer);
  }

  /** Publishes an event to its subscribers on every instance; nothing is stored. */
  async publishEvent(request: PublishEventRequest, options: PublishOptions = {}): Promise<EventPublication> {
    return this.idempotent(options, async () => {
      const problem = eventTypeProblem(request.type);
      if (problem !== null) throw AppError.validation(problem, [{ field: 'type', problems: [problem] }]);
      if (request.userId !== undefined && request.broadcast === true) {
        throw exclusive('userId', 'broadcast');
      }
      checkDataSize(request.data);
      const event: PublishedEvent = {
        id: randomUUID(),
        type: request.type,
        ...(request.userId === undefined ? {} : { userId: request.userId }),
        ...(request.sessionId === undefined ? {} : { sessionId: request.sessionId }),
        data: request.data ?? {},
        timestamp: new Date(this.clock.now()).toISOString(),
      };
      const audience: EventAudience =
        request.broadcast === true
          ? 'broadcast'
          : request.userId !== undefined
            ? { userId: request.userId }
            : 'admins';
      this.delivery.publishEvent(event, audience);
      const targetedConnections =
        audience === 'admins'
          ? 0
          : await this.targetedConnections(audience === 'broadcast' ? 'everyone' : [audience.userId]);
      return { event, targetedConnections, stored: 0 };
    });
  }

  /** Stores the notifications, then delivers them live; answers once they are stored. */
  async notify(request: NotifyRequest, options: PublishOptions = {}): Promise<PublishResult> {
    return this.idempotent(options, async () => {
      const to = recipientsOf(request);
      checkText('title', request.title, NotificationsLimits.maxTitleLength);
      checkText('body', request.body, NotificationsLimits.maxBodyLength);
      checkDataSize(request.data);
      const stored = await this.repository.insert({
        to: to === 'everyone' ? { broadcast: true } : { userIds: to },
        title: request.title,
        body: request.body,
        level: request.level ?? 'info',
        data: request.data ?? null,
        createdAt: new Date(this.clock.now()),
      });
      this.delivery.deliverNotifications(stored);
      return { targetedConnections: await this.targetedConnections(to), stored: stored.length };
    });
  }

  /** Delivers a message live to the users' connections on every instance; nothing is stored. */
  async sendMessage(
    request: SendMessageToUsersRequest,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    return this.idempotent(options, async () => {
      const to = recipientsOf(request);
      checkText('type', request.type, NotificationsLimits.maxMessageTypeLength);
      checkDataSize(request.data);
      const message: LiveMessage = {
        type: request.type,
        data: request.data ?? null,
        timestamp: new Date(this.clock.now()).toISOString(),
      };
      this.delivery.sendMessage(message, to);
      return { targetedConnections: await this.targetedConnections(to), stored: 0 };
    });
  }

  async inbox(
    userId: string,
    query: { unreadOnly?: boolean; before?: number; limit?: number },
  ): Promise<NotificationPage> {
    const [page, unreadCount] = await Promise.all([
      this.repository.inbox(userId, {
        unreadOnly: query.unreadOnly ?? false,
        ...(query.before === undefined ? {} : { before: query.before }),
        limit: pageSize(query.limit),
      }),
      this.repository.unreadCount(userId),
    ]);
    return { ...page, unreadCount };
  }

  unreadCount(userId: string): Promise<number> {
    return this.repository.unreadCount(userId);
  }

  /** The user's notifications stored after `afterId`, oldest first: what live delivery may have dropped. */
  sync(userId: string, afterId: number, limit?: number): Promise<NotificationSyncPage> {
    return this.repository.after(userId, afterId, pageSize(limit));
  }

  /** Marks one read; the user's other devices are told. Another user's answers `NOT_FOUND`. */
  async markRead(userId: string, notificationId: number): Promise<Notification> {
    const notification = await this.repository.markRead(userId, notificationId, new Date(this.clock.now()));
    if (!notification) throw AppError.notFound(`Notification ${notificationId} not found`);
    this.delivery.tellReadState(userId, { id: notificationId });
    return notification;
  }

  async markAllRead(userId: string): Promise<{ read: number }> {
    const read = await this.repository.markAllRead(userId, new Date(this.clock.now()));
    if (read > 0) this.delivery.tellReadState(userId, { readAll: read });
    return { read };
  }

  /**
   * An estimate from the cluster view: no instance is asked. While the view cannot be read
   * (Redis down), this instance's own connections are the estimate: what is stored is stored.
   */
  private async targetedConnections(to: LocalRecipients): Promise<number> {
    try {
      if (to === 'everyone') return await this.registry.countConnections();
      const counts = await Promise.all(to.map((userId) => this.registry.countUserConnections(userId)));
      return counts.reduce((total, count) => total + count, 0);
    } catch (error) {
      this.logger.warn(`Counting the targeted connections across instances failed: ${errorMessage(error)}`);
      return to === 'everyone'
        ? this.registry.localConnectionCount
        : this.registry.countLocalUserConnections(to);
    }
  }

  private async idempotent<T>(options: PublishOptions, publish: () => Promise<T>): Promise<T> {
    const { idempotencyKey: key, actorId = '' } = options;
    if (key === undefined) return publish();
    const receipt = await this.repository.claimReceipt(actorId, key, new Date(this.clock.now()));
    if (receipt.status === 'done') return receipt.result as T;
    if (receipt.status === 'pending') {
      throw AppError.conflict(`A publish with Idempotency-Key ${JSON.stringify(key)} is still in progress`);
    }
    try {
      const result = await publish();
      await this.repository.completeReceipt(actorId, key, result);
      return result;
    } catch (error) {
      await this.repository.releaseReceipt(actorId, key).catch((release: unknown) => {
        this.logger.warn(`Could not release Idempotency-Key ${key}: ${errorMessage(release)}`);
      });
      throw error;
    }
  }

  private async applyRetention(): Promise<void> {
    const now = this.clock.now();
    const removed = await this.repository.deleteCreatedBefore(
      new Date(now - this.config.notifications.retentionDays * DAY_MS),
    );
    await this.repository.deleteReceiptsBefore(new Date(now - RECEIPT_TTL_MS));
    if (removed > 0) this.logger.log(`Deleted ${removed} notifications past retention`);
  }
}

/**
 * The users a notification or message goes to, each once, or everyone. Fields are read by value,
 * not by `in`: a DTO instance has every declared field as an own property, `undefined` when absent.
 */
function recipientsOf(request: Recipients): LocalRecipients {
  const { userId, userIds, broadcast } = request as Partial<
    Record<'userId' | 'userIds' | 'broadcast', unknown>
  >;
  const given = Object.entries({ userId, userIds, broadcast })
    .filter(([, value]) => value !== undefined)
    .map(([field]) => field);
  if (given.length !== 1) {
    const problem = 'exactly one of userId, userIds and broadcast is required';
    throw AppError.validation(problem, [{ field: given[1] ?? 'userId', problems: [problem] }]);
  }
  if (broadcast !== undefined) {
    if (broadcast !== true)
      throw AppError.validation('broadcast must be true', [
        { field: 'broadcast', problems: ['broadcast must be true'] },
      ]);
    return 'everyone';
  }
  const field = userId !== undefined ? 'userId' : 'userIds';
  const ids: unknown[] =
    userId !== undefined ? [userId] : Array.isArray(userIds) ? [...new Set(userIds)] : [];
  if (ids.length === 0 || ids.length > NotificationsLimits.maxUserIds) {
    const problem = `between 1 and ${NotificationsLimits.maxUserIds} user ids`;
    throw AppError.validation(problem, [{ field: 'userIds', problems: [problem] }]);
  }
  if (!ids.every(isUserId)) {
    const problem = `a user id is a string of 1 to ${NotificationsLimits.maxUserIdLength} characters`;
    throw AppError.validation(problem, [{ field, problems: [problem] }]);
  }
  return ids;
}

function isUserId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= NotificationsLimits.maxUserIdLength;
}

function checkText(field: string, value: unknown, maxLength: number): void {
  if (typeof value !== 'string' || value.trim() === '' || value.length > maxLength) {
    const problem = `${field} must be 1 to ${maxLength} characters, not blank`;
    throw AppError.validation(problem, [{ field, problems: [problem] }]);
  }
}

function checkDataSize(data: unknown): void {
  if (data === undefined) return;
  const size = Buffer.byteLength(JSON.stringify(data) ?? '');
  if (size > NotificationsLimits.maxDataBytes) {
    const problem = `data must be at most ${NotificationsLimits.maxDataBytes} bytes as JSON`;
    throw AppError.validation(problem, [{ field: 'data', problems: [problem] }]);
  }
}

function exclusive(...fields: string[]): AppError {
  const problem = `${fields.join(' and ')} cannot be combined`;
  return AppError.validation(problem, [{ field: fields.at(-1) ?? '', problems: [problem] }]);
}

function pageSize(limit: number | undefined): number {
  return Math.min(limit ?? NotificationsLimits.defaultPageSize, NotificationsLimits.maxPageSize);
}
