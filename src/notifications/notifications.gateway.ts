import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { hasAnyRole, Role } from '../auth/roles.js';
import { envelope } from '../common/envelope.js';
import { identityOf } from '../connections/connection.types.js';
import { RealtimeGateway } from '../realtime/realtime-gateway.decorator.js';
import { userRoom } from '../realtime/rooms.js';
import {
  ListNotificationsDto,
  ReadNotificationDto,
  SubscribeDto,
  SyncNotificationsDto,
  UnsubscribeDto,
} from './dto/notifications.dto.js';
import type { EventSubscriber } from './event-router.js';
import { LiveDelivery, type LiveDoor, type LocalRecipients, type ReadStateChange } from './live-delivery.js';
import {
  NOTIFICATIONS_NAMESPACE,
  NotificationsEvent,
  type LiveMessage,
  type Notification,
  type NotificationPage,
  type NotificationSyncPage,
  type PublishedEvent,
  type Subscriptions,
} from './notifications.events.js';
import { NotificationsService } from './notifications.service.js';

/**
 * The `/notifications` namespace (docs/protocol.md, Notifications): event subscriptions by
 * pattern, the inbox, and live notifications and messages for this instance's sockets.
 */
@RealtimeGateway(NOTIFICATIONS_NAMESPACE)
export class NotificationsGateway implements OnGatewayInit<Namespace>, OnGatewayDisconnect<Socket>, LiveDoor {
  private readonly subscribers = new WeakMap<Socket, EventSubscriber>();
  private namespace?: Namespace;
  /**
   * The event being routed and the sockets it matched: the router hands one event to all its
   * subscribers, then calls `endOfEvent`, and it leaves as one emit, encoded once for all.
   */
  private routing?: { event: PublishedEvent; socketIds: string[] };
  private readonly emitRouted = (): void => {
    const routed = this.routing;
    this.routing = undefined;
    if (routed && this.namespace) {
      this.namespace.local.to(routed.socketIds).emit(NotificationsEvent.Event, routed.event);
    }
  };

  constructor(
    private readonly notifications: NotificationsService,
    private readonly delivery: LiveDelivery,
  ) {}

  afterInit(namespace: Namespace): void {
    this.namespace = namespace;
    this.delivery.addDoor(this);
  }

  handleDisconnect(socket: Socket): void {
    const subscriber = this.subscribers.get(socket);
    if (subscriber) this.delivery.events.remove(subscriber);
  }

  @SubscribeMessage(NotificationsEvent.Subscribe)
  subscribe(@MessageBody() request: SubscribeDto, @ConnectedSocket() socket: Socket): Subscriptions {
    return this.delivery.events.subscribe(this.subscriberOf(socket), request.eventTypes, request.scope);
  }

  @SubscribeMessage(NotificationsEvent.Unsubscribe)
  unsubscribe(@MessageBody() request: UnsubscribeDto, @ConnectedSocket() socket: Socket): Subscriptions {
    return this.delivery.events.unsubscribe(this.subscriberOf(socket), request.eventTypes);
  }

  @SubscribeMessage(NotificationsEvent.GetSubscriptions)
  subscriptions(@ConnectedSocket() socket: Socket): Subscriptions {
    return this.delivery.events.subscriptionsOf(this.subscriberOf(socket));
  }

  @SubscribeMessage(NotificationsEvent.Ping)
  ping(): { pong: string } {
    return { pong: new Date().toISOString() };
  }

  @SubscribeMessage(NotificationsEvent.List)
  list(
    @MessageBody() request: ListNotificationsDto = {},
    @CurrentUser() user: Principal,
  ): Promise<NotificationPage> {
    return this.notifications.inbox(user.userId, request);
  }

  @SubscribeMessage(NotificationsEvent.Read)
  read(@MessageBody() request: ReadNotificationDto, @CurrentUser() user: Principal): Promise<Notification> {
    return this.notifications.markRead(user.userId, request.id);
  }

  @SubscribeMessage(NotificationsEvent.ReadAll)
  readAll(@CurrentUser() user: Principal): Promise<{ read: number }> {
    return this.notifications.markAllRead(user.userId);
  }

  @SubscribeMessage(NotificationsEvent.Sync)
  sync(
    @MessageBody() request: SyncNotificationsDto,
    @CurrentUser() user: Principal,
  ): Promise<NotificationSyncPage> {
    return this.notifications.sync(user.userId, request.afterId, request.limit);
  }

  deliverNotifications(notifications: readonly Notification[], to: LocalRecipients): void {
    notifications.forEach((notification, index) => {
      const target =
        to === 'everyone' ? this.namespace?.local : this.namespace?.local.to(userRoom(to[index] ?? ''));
      target?.emit(NotificationsEvent.Notification, envelope(NotificationsEvent.Notification, notification));
    });
  }

  deliverMessage(message: LiveMessage, to: LocalRecipients): void {
    const target = to === 'everyone' ? this.namespace?.local : this.namespace?.local.to(to.map(userRoom));
    target?.emit(NotificationsEvent.Message, message);
  }

  deliverReadState(userId: string, change: ReadStateChange): void {
    const target = this.namespace?.local.to(userRoom(userId));
    if ('id' in change) target?.emit('notification:read', envelope('notification:read', { id: change.id }));
    else target?.emit('notifications:read-all', envelope('notifications:read-all', { read: change.readAll }));
  }

  private deliverEvent(socket: Socket, event: PublishedEvent): void {
    (this.routing ??= { event, socketIds: [] }).socketIds.push(socket.id);
  }

  /** One subscriber per socket, made at its first subscription. */
  private subscriberOf(socket: Socket): EventSubscriber {
    let subscriber = this.subscribers.get(socket);
    if (!subscriber) {
      const { userId, roles } = identityOf(socket);
      subscriber = {
        userId,
        isAdmin: hasAnyRole(roles, [Role.Admin]),
        deliver: (event) => this.deliverEvent(socket, event),
        endOfEvent: this.emitRouted,
      };
      this.subscribers.set(socket, subscriber);
    }
    return subscriber;
  }
}
