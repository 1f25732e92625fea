import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { ok, type ApiResponse } from '../common/http-response.js';
import { PresenceUserParamDto, PresenceUsersDto } from './dto/presence.dto.js';
import type { PresenceState } from './presence.events.js';
import { PresenceService } from './presence.service.js';

/**
 * `/api/presence` (docs/protocol.md, Presence): the same answers as `presence:query`. An unknown
 * user is `offline` with `lastSeenAt: null`, never 404, so ids cannot be probed.
 */
@Controller('api/presence')
export class PresenceController {
  constructor(private readonly presence: PresenceService) {}

  @Get(':userId')
  async get(
    @Param() params: PresenceUserParamDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<PresenceState>> {
    return ok('Presence', await this.presence.stateFor(caller, params.userId));
  }

  /** A read, so 200 rather than 201: a POST only because the ids do not fit a URL. */
  @Post('query')
  @HttpCode(HttpStatus.OK)
  async query(
    @Body() body: PresenceUsersDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<PresenceState[]>> {
    return ok('Presence', await this.presence.query(caller, body.userIds));
  }
}
