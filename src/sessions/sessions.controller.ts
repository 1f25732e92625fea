import { Controller, Delete, Get, Param, Query } from '@nestjs/common';
import { Roles } from '../auth/auth.metadata.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ok, type ApiResponse } from '../common/http-response.js';
import { ListSessionsQueryDto, SessionIdParamDto } from './dto/list-sessions.dto.js';
import type { SessionView } from './sessions.events.js';
import { SessionsService } from './sessions.service.js';

@Controller('api/sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Get('count')
  async count(): Promise<ApiResponse<{ activeSessionsCount: number; timestamp: string }>> {
    const activeSessionsCount = await this.sessions.countActive();
    return ok('Active sessions counted', { activeSessionsCount, timestamp: new Date().toISOString() });
  }

  @Get('me')
  async mine(
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<{ sessions: SessionView[]; timestamp: string }>> {
    const sessions = await this.sessions.sessionsOf(caller.userId);
    return ok('Your live sessions', { sessions, timestamp: new Date().toISOString() });
  }

  @Roles(Role.Admin)
  @Get()
  async list(
    @Query() query: ListSessionsQueryDto,
  ): Promise<ApiResponse<{ sessions: SessionView[]; totalCount: number; timestamp: string }>> {
    const page = await this.sessions.list(query);
    return ok('Live sessions', { ...page, timestamp: new Date().toISOString() });
  }

  @Delete(':id')
  async revoke(
    @Param() params: SessionIdParamDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<{ sessionId: string; disconnected: number }>> {
    return ok('Session revoked', await this.sessions.revoke(params.id, caller));
  }
}
