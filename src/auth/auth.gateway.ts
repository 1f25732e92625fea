import { ConnectedSocket, SubscribeMessage } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { connectionOf } from '../connections/connection.types.js';
import { RealtimeGateway } from '../realtime/realtime-gateway.decorator.js';
import { AuthEvent, type Whoami } from './auth.events.js';

/**
 * Authentication's own events on `/`. `auth:refresh` is not here: it works on every namespace,
 * so the handshake layer answers it for every socket.
 */
@RealtimeGateway('/')
export class AuthGateway {
  @SubscribeMessage(AuthEvent.Whoami)
  whoami(@ConnectedSocket() socket: Socket): Whoami {
    const { identity } = connectionOf(socket);
    return {
      userId: identity.userId,
      roles: [...identity.roles],
      sessionId: identity.sessionId,
      connectionId: identity.connectionId,
      expiresAt: new Date(identity.expiresAt).toISOString(),
    };
  }
}
