import { MessageBody, SubscribeMessage } from '@nestjs/websockets';
import { Roles } from '../auth/auth.metadata.js';
import { RealtimeGateway } from '../realtime/realtime-gateway.decorator.js';
import { Role } from '../auth/roles.js';
import { ListSessionsDto } from './dto/list-sessions.dto.js';
import {
  SessionsEvent,
  type PongPayload,
  type SessionsCountPayload,
  type SessionsListResult,
} from './sessions.events.js';
import { SessionsService } from './sessions.service.js';

@RealtimeGateway('/')
export class SessionsGateway {
  constructor(private readonly sessions: SessionsService) {}

  @SubscribeMessage(SessionsEvent.Count)
  async count(): Promise<SessionsCountPayload> {
    return { activeSessionsCount: await this.sessions.countActive() };
  }

  @Roles(Role.Admin)
  @SubscribeMessage(SessionsEvent.List)
  list(@MessageBody() query: ListSessionsDto = {}): Promise<SessionsListResult> {
    return this.sessions.list(query);
  }

  @SubscribeMessage(SessionsEvent.Ping)
  ping(): PongPayload {
    return { pong: new Date().toISOString() };
  }
}
