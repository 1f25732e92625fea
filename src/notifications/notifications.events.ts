import type { AckResponse, Envelope } from '../common/envelope.js';

export const NOTIFICATIONS_NAMESPACE = '/notifications';
/** The plain-WebSocket door: same server and port, no Socket.IO. */
export const EVENTS_WEBSOCKET_PATH = '/ws/events';

/** Events of the `/notifications` namespace, and frame types of `/ws/events` (docs/protocol.md, Notifications). */
export const NotificationsEvent = {
  /** client → server `{ eventTypes, scope? }`, ack → the subscriptions now held. */
  Subscribe: 'subscribe',
  /** client → server `{ eventTypes }`, ack → the subscriptions now held. */
  Unsubscribe: 'unsubscribe',
  /** client → server, ack → the subscriptions held. */
  GetSubscriptions: 'get_subscriptions',
  /** client → server, ack → `{ pong }` (server time). */
  Ping: 'ping',
  /** client → server `{ unreadOnly?, before?, limit? }`, ack → a page of the inbox. */
  List: 'notifications:list',
  /** client → server `{ id }`, ack → the notification, read. Other devices get `notification:read`. */
  Read: 'notification:read',
  /** client → server, ack → `{ read }`, how many were marked. Other devices get `notifications:read-all`. */
  ReadAll: 'notifications:read-all',
  /** client → server `{ afterId, limit? }`, ack → the notifications stored after `afterId`, oldest first. */
  Sync: 'notifications:sync',
  /** server → client: a published event matching a subscription, itself an envelope. */
  Event: 'event',
  /** server → client: a stored notification, in the `{ type, data, timestamp }` envelope. */
  Notification: 'notification',
  /** server → client: a live-only message, flat, with the sender's `type`. */
  Message: 'message',
} as const;

export const NOTIFICATION_LEVELS = ['info', 'success', 'warning', 'error', 'critical'] as const;
export type NotificationLevel = (typeof NOTIFICATION_LEVELS)[number];

export const NotificationsLimits = {
  /** User ids one notify or message may name. */
  maxUserIds: 1000,
  maxUserIdLength: 256,
  maxTitleLength: 200,
  maxBodyLength: 4000,
  /** Serialized `data` of an event, notification or message. */
  maxDataBytes: 16 * 1024,
  defaultPageSize: 50,
  maxPageSize: 200,
  maxMessageTypeLength: 100,
  maxIdempotencyKeyLength: 200,
} as const;

/** Who a subscription hears: events addressed to the subscriber or broadcast, or (admins) everyone's. */
export type SubscriptionScope = 'own' | 'all';

/** `event`: what was published, as every subscriber receives it. */
export interface PublishedEvent<TData = unknown> {
  id: string;
  /** Dotted event type, e.g. `security.rate_limit.exceeded`. */
  type: string;
  /** The user the event is about; absent for system events and broadcasts. */
  userId?: string;
  sessionId?: string;
  data: TData;
  /** ISO-8601. */
  timestamp: string;
}

/** A stored notification, as its recipient sees it. */
export interface Notification {
  id: number;
  /** Absent on a broadcast notification (to everyone). */
  userId?: string;
  title: string;
  body: string;
  level: NotificationLevel;
  data: unknown;
  /** ISO-8601, when it was published. */
  timestamp: string;
  read: boolean;
}

/** A page of the inbox, newest first. */
export interface NotificationPage {
  notifications: Notification[];
  hasMore: boolean;
  unreadCount: number;
}

/** `notifications:sync`: what was stored after a notification, oldest first. */
export interface NotificationSyncPage {
  notifications: Notification[];
  hasMore: boolean;
}

/** `message`: live only, flat, as the sender typed it. */
export interface LiveMessage {
  type: string;
  data: unknown;
  timestamp: string;
}

/** Who a notification or message goes to. */
export type Recipients = { userId: string } | { userIds: string[] } | { broadcast: true };

export interface SubscribeRequest {
  eventTypes: string[];
  scope?: SubscriptionScope;
}

export interface UnsubscribeRequest {
  eventTypes: string[];
}

export interface Subscriptions {
  eventTypes: string[];
  scope: SubscriptionScope;
}

export interface ListNotificationsRequest {
  unreadOnly?: boolean;
  /** A notification id: only older ones. */
  before?: number;
  limit?: number;
}

export interface ReadNotificationRequest {
  id: number;
}

export interface SyncNotificationsRequest {
  afterId: number;
  limit?: number;
}

export interface PublishEventRequest {
  type: string;
  userId?: string;
  broadcast?: boolean;
  sessionId?: string;
  data?: unknown;
}

export type NotifyRequest = Recipients & {
  title: string;
  body: string;
  level?: NotificationLevel;
  data?: unknown;
};

export type SendMessageToUsersRequest = Recipients & { type: string; data?: unknown };

/** What a publish reached: connections targeted (an estimate across instances) and rows stored. */
export interface PublishResult {
  targetedConnections: number;
  stored: number;
}

export interface NotificationsServerPayloads {
  [NotificationsEvent.Notification]: Notification;
}

export interface NotificationsRequests {
  [NotificationsEvent.Subscribe]: { payload: SubscribeRequest; result: Subscriptions };
  [NotificationsEvent.Unsubscribe]: { payload: UnsubscribeRequest; result: Subscriptions };
  [NotificationsEvent.GetSubscriptions]: { payload: undefined; result: Subscriptions };
  [NotificationsEvent.Ping]: { payload: undefined; result: { pong: string } };
  [NotificationsEvent.List]: { payload: ListNotificationsRequest; result: NotificationPage };
  [NotificationsEvent.Read]: { payload: ReadNotificationRequest; result: Notification };
  [NotificationsEvent.ReadAll]: { payload: undefined; result: { read: number } };
  [NotificationsEvent.Sync]: { payload: SyncNotificationsRequest; result: NotificationSyncPage };
}

export type NotificationsServerToClientEvents = {
  [NotificationsEvent.Event]: (event: PublishedEvent) => void;
  [NotificationsEvent.Notification]: (event: Envelope<'notification', Notification>) => void;
  [NotificationsEvent.Message]: (message: LiveMessage) => void;
  'notification:read': (event: Envelope<'notification:read', { id: number }>) => void;
  'notifications:read-all': (event: Envelope<'notifications:read-all', { read: number }>) => void;
};

export type NotificationsClientToServerEvents = {
  [E in keyof NotificationsRequests]: (
    payload: NotificationsRequests[E]['payload'],
    ack: (response: AckResponse<NotificationsRequests[E]['result']>) => void,
  ) => void;
};
