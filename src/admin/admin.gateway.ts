import type { OnModuleDestroy } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { Roles } from '../auth/auth.metadata.js';
import { hasAnyRole, Role } from '../auth/roles.js';
import { envelope } from '../common/envelope.js';
import { FailureLog } from '../common/failure-log.js';
import { connectionOf, identityOf } from '../connections/connection.types.js';
import type { EventSubscriber } from '../notifications/event-router.js';
import { LiveDelivery } from '../notifications/live-delivery.js';
import { RealtimeGateway } from '../realtime/realtime-gateway.decorator.js';
import { AdminStatsPush } from './admin-stats.push.js';
import { AdminStatsService } from './admin-stats.service.js';
import {
  ADMIN_EVENT_PATTERNS,
  ADMIN_NAMESPACE,
  AdminEvent,
  type AdminStats,
  type BroadcastResult,
  type DisconnectUserResult,
  type RevokeSessionResult,
} from './admin.events.js';
import { AdminService, type AdminActor } from './admin.service.js';
import { BroadcastDto, DisconnectUserDto, RevokeSessionDto } from './dto/admin.dto.js';

/**
 * The `/admin` namespace (docs/protocol.md, Admin), role `admin`: the role on the class makes the
 * handshake itself refuse anyone else (`FORBIDDEN`), and every event checks it again. A socket
 * gets `stats` when it connects and every `ADMIN_STATS_MS`, and hears every `admin.*`,
 * `security.*`, `session.*` and `system.*` event as `event`.
 */
@RealtimeGateway(ADMIN_NAMESPACE)
@Roles(Role.Admin)
export class AdminGateway
  implements
    OnGatewayInit<Namespace>,
    OnGatewayConnection<Socket>,
    OnGatewayDisconnect<Socket>,
    OnModuleDestroy
{
  private readonly failures = new FailureLog(AdminGateway.name);
  private readonly subscribers = new WeakMap<Socket, EventSubscriber>();
  private stopStats?: () => void;

  constructor(
    private readonly admin: AdminService,
    private readonly stats: AdminStatsService,
    private readonly delivery: LiveDelivery,
    private readonly statsPush: AdminStatsPush,
  ) {}

  afterInit(namespace: Namespace): void {
    this.stopStats = this.statsPush.add({
      present: () => namespace.sockets.size > 0,
      push: (stats) => {
        const event = envelope(AdminEvent.Stats, stats);
        for (const socket of namespace.sockets.values())
          if (isAdmin(socket)) socket.emit(AdminEvent.Stats, event);
      },
    });
  }

  onModuleDestroy(): void {
    this.stopStats?.();
  }

  async handleConnection(socket: Socket): Promise<void> {
    const subscriber: EventSubscriber = {
      userId: identityOf(socket).userId,
      isAdmin: true,
      // A refresh may have taken the role away: such a socket hears nothing more.
      deliver: (event) => {
        if (isAdmin(socket)) socket.emit(AdminEvent.Event, event);
      },
    };
    this.subscribers.set(socket, subscriber);
    try {
      this.delivery.events.subscribe(subscriber, ADMIN_EVENT_PATTERNS, 'all');
    } catch (error) {
      // Only an EVENTS_MAX_SUBSCRIPTIONS below the four patterns refuses them; stats still flow.
      this.failures.error(`Subscribing an ${ADMIN_NAMESPACE} socket to the admin events`, error);
    }
    const stats = await this.stats.current();
    if (socket.connected) socket.emit(AdminEvent.Stats, envelope(AdminEvent.Stats, stats));
  }

  handleDisconnect(socket: Socket): void {
    const subscriber = this.subscribers.get(socket);
    if (subscriber) this.delivery.events.remove(subscriber);
  }

  @SubscribeMessage(AdminEvent.GetStats)
  getStats(): Promise<AdminStats> {
    return this.stats.current();
  }

  @SubscribeMessage(AdminEvent.DisconnectUser)
  disconnectUser(
    @MessageBody() request: DisconnectUserDto,
    @ConnectedSocket() socket: Socket,
  ): Promise<DisconnectUserResult> {
    return this.admin.disconnectUser(actorOf(socket), request);
  }

  @SubscribeMessage(AdminEvent.Broadcast)
  broadcast(
    @MessageBody() request: BroadcastDto,
    @ConnectedSocket() socket: Socket,
  ): Promise<BroadcastResult> {
    return this.admin.broadcast(actorOf(socket), request);
  }

  @SubscribeMessage(AdminEvent.RevokeSession)
  revokeSession(
    @MessageBody() request: RevokeSessionDto,
    @ConnectedSocket() socket: Socket,
  ): Promise<RevokeSessionResult> {
    return this.admin.revokeSession(actorOf(socket), request);
  }
}

function isAdmin(socket: Socket): boolean {
  return hasAnyRole(identityOf(socket).roles, [Role.Admin]);
}

function actorOf(socket: Socket): AdminActor {
  const connection = connectionOf(socket);
  return { userId: connection.identity.userId, address: connection.ipAddress, via: 'socket' };
}
