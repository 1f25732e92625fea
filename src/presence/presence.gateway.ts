import { ConnectedSocket, MessageBody, SubscribeMessage } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { AppError } from '../common/errors.js';
import { AppConfig } from '../config/app-config.js';
import { RealtimeGateway } from '../realtime/realtime-gateway.decorator.js';
import { PresenceUsersDto, SetPresenceDto } from './dto/presence.dto.js';
import {
  PRESENCE_NAMESPACE,
  PresenceEvent,
  type PresenceState,
  type PresenceUsersRequest,
} from './presence.events.js';
import { PresenceService, presenceRoom } from './presence.service.js';

/**
 * The `/presence` namespace (docs/protocol.md, Presence). The service tells everyone who may hear
 * about a change; this gateway only keeps each socket's subscriptions: the `presence:<userId>`
 * rooms of the users it follows, at most `PRESENCE_MAX_SUBSCRIPTIONS` of them.
 */
@RealtimeGateway(PRESENCE_NAMESPACE)
export class PresenceGateway {
  /**
   * The users each socket asked to follow, whether or not it may: a user it may not follow is
   * counted and unsubscribed like any other, so that no answer tells the two apart. Socket.IO
   * takes a closed socket out of its rooms; the entry goes with the socket.
   */
  private readonly subscriptions = new WeakMap<Socket, Set<string>>();

  constructor(
    private readonly presence: PresenceService,
    private readonly config: AppConfig,
  ) {}

  @SubscribeMessage(PresenceEvent.Set)
  set(@MessageBody() request: SetPresenceDto, @CurrentUser() user: Principal): Promise<PresenceState> {
    return this.presence.setStatus(user, request.status);
  }

  @SubscribeMessage(PresenceEvent.Subscribe)
  async subscribe(
    @MessageBody() request: PresenceUsersDto,
    @CurrentUser() user: Principal,
    @ConnectedSocket() socket: Socket,
  ): Promise<PresenceState[]> {
    const followed = this.followedBy(socket);
    const asked = [...new Set(request.userIds)];
    const added = asked.filter((userId) => !followed.has(userId));
    const limit = this.config.presence.maxSubscriptions;
    if (followed.size + added.length > limit) {
      const problem = `at most ${limit} subscriptions per connection: this one follows ${followed.size} users and asked for ${added.length} more`;
      throw AppError.validation(`userIds: ${problem}`, [{ field: 'userIds', problems: [problem] }]);
    }
    // Taken before anything is awaited, so that subscriptions sent together cannot pass the limit together.
    for (const userId of added) followed.add(userId);
    try {
      // All of them, not only the new ones: a user the socket could not follow before may be followable now.
      const allowed = await this.presence.followable(user, asked);
      // An unsubscribe may have come in meanwhile; a closed socket must not be put back in rooms.
      const rooms = allowed.filter((userId) => followed.has(userId)).map(presenceRoom);
      if (socket.connected && rooms.length > 0) await socket.join(rooms);
    } catch (error) {
      for (const userId of added) followed.delete(userId);
      throw error;
    }
    return this.presence.query(user, asked);
  }

  @SubscribeMessage(PresenceEvent.Unsubscribe)
  async unsubscribe(
    @MessageBody() request: PresenceUsersDto,
    @ConnectedSocket() socket: Socket,
  ): Promise<PresenceUsersRequest> {
    const followed = this.subscriptions.get(socket);
    const removed = [...new Set(request.userIds)].filter((userId) => followed?.delete(userId) === true);
    for (const userId of removed) await socket.leave(presenceRoom(userId));
    return { userIds: removed };
  }

  @SubscribeMessage(PresenceEvent.Query)
  query(@MessageBody() request: PresenceUsersDto, @CurrentUser() user: Principal): Promise<PresenceState[]> {
    return this.presence.query(user, request.userIds);
  }

  private followedBy(socket: Socket): Set<string> {
    let followed = this.subscriptions.get(socket);
    if (!followed) {
      followed = new Set();
      this.subscriptions.set(socket, followed);
    }
    return followed;
  }
}
