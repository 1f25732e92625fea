import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { Roles } from '../auth/auth.metadata.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ClientAddresses } from '../common/client-address.js';
import { ok, type ApiResponse } from '../common/http-response.js';
import { AdminStatsService } from './admin-stats.service.js';
import type {
  AdminStats,
  AdminUserStatus,
  AuditPage,
  BroadcastResult,
  ConnectionsPage,
  DisconnectUserResult,
  UsersPage,
} from './admin.events.js';
import { AdminService, type AdminActor } from './admin.service.js';
import {
  AdminUserParamDto,
  AuditQueryDto,
  BroadcastDto,
  ConnectionsQueryDto,
  DisconnectOptionsDto,
  DisconnectOptionsQueryDto,
  PageQueryDto,
} from './dto/admin.dto.js';

/**
 * `/api/admin` (docs/protocol.md, Admin), role `admin`: the same answers and actions as the
 * `/admin` namespace. The audit log is read-only here: no route changes or deletes an entry.
 */
@Controller('api/admin')
@Roles(Role.Admin)
export class AdminController {
  constructor(
    private readonly admin: AdminService,
    private readonly stats: AdminStatsService,
    private readonly addresses: ClientAddresses,
  ) {}

  @Get('stats')
  async getStats(): Promise<ApiResponse<AdminStats>> {
    return ok('Stats', await this.stats.current());
  }

  @Get('connections')
  async connections(@Query() query: ConnectionsQueryDto): Promise<ApiResponse<ConnectionsPage>> {
    return ok('Connections', await this.admin.connections(query));
  }

  @Get('users')
  async users(@Query() query: PageQueryDto): Promise<ApiResponse<UsersPage>> {
    return ok('Connected users', await this.admin.users(query));
  }

  @Get('users/:userId/status')
  async status(@Param() params: AdminUserParamDto): Promise<ApiResponse<AdminUserStatus>> {
    return ok('User status', await this.admin.userStatus(params.userId));
  }

  /** `admin:disconnect-user` over REST: `reason` and `revoke` in the body or the query (the body wins). */
  @Delete('users/:userId/connections')
  async disconnect(
    @Param() params: AdminUserParamDto,
    @Query() query: DisconnectOptionsQueryDto,
    // A request without a body has none: the default stands in.
    @Body() body: DisconnectOptionsDto = {},
    @CurrentUser() caller: Principal,
    @Req() request: Request,
  ): Promise<ApiResponse<DisconnectUserResult>> {
    const reason = body.reason ?? query.reason;
    const revoke = body.revoke ?? query.revoke;
    const result = await this.admin.disconnectUser(this.actorOf(caller, request), {
      userId: params.userId,
      ...(reason === undefined ? {} : { reason }),
      ...(revoke === undefined ? {} : { revoke }),
    });
    return ok('User disconnected', result);
  }

  /** 202: sent to every instance, each delivering to its own connections. */
  @Post('broadcast')
  @HttpCode(HttpStatus.ACCEPTED)
  async broadcast(
    @Body() body: BroadcastDto,
    @CurrentUser() caller: Principal,
    @Req() request: Request,
  ): Promise<ApiResponse<BroadcastResult>> {
    return ok('Broadcast sent', await this.admin.broadcast(this.actorOf(caller, request), body));
  }

  @Get('audit')
  async audit(@Query() query: AuditQueryDto): Promise<ApiResponse<AuditPage>> {
    return ok('Audit log', await this.admin.auditLog(query));
  }

  private actorOf(caller: Principal, request: Request): AdminActor {
    return { userId: caller.userId, address: this.addresses.of(request), via: 'rest' };
  }
}
