import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { Roles } from '../auth/auth.metadata.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ok, type ApiResponse } from '../common/http-response.js';
import { ListNotificationsQueryDto, NotificationIdParamDto } from './dto/notifications.dto.js';
import { IDEMPOTENCY_KEY_HEADER, NotifyDto, publishOptionsOf } from './dto/publish.dto.js';
import type { Notification, NotificationPage, NotifyRequest, PublishResult } from './notifications.events.js';
import { NotificationsService } from './notifications.service.js';

/**
 * `/api/notifications` (docs/protocol.md, Notifications): publishing (role `service` or `admin`)
 * and every user's own inbox, the same answers as `notifications:list` and `notification:read`
 * on the socket. Another user's notification answers 404, exactly as one that does not exist.
 */
@Controller('api/notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  /**
   * 201 once stored (before live delivery). A retry with the same `Idempotency-Key` stores and
   * delivers nothing and answers the first result, with the same status.
   */
  @Post()
  @Roles(Role.Service)
  async notify(
    @Body() body: NotifyDto,
    @CurrentUser() caller: Principal,
    @Headers(IDEMPOTENCY_KEY_HEADER) idempotencyKey?: string,
  ): Promise<ApiResponse<PublishResult>> {
    const options = publishOptionsOf(idempotencyKey, caller.userId);
    // Exactly one of the recipient fields is enforced by the service, which names the field.
    const request = body as NotifyRequest;
    return ok('Notification stored', await this.notifications.notify(request, options));
  }

  @Get()
  async list(
    @Query() query: ListNotificationsQueryDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<NotificationPage>> {
    return ok('Notifications', await this.notifications.inbox(caller.userId, query));
  }

  @Get('unread-count')
  async unreadCount(@CurrentUser() caller: Principal): Promise<ApiResponse<{ unreadCount: number }>> {
    return ok('Unread notifications', { unreadCount: await this.notifications.unreadCount(caller.userId) });
  }

  /** Marks every notification of the caller's inbox read; their other devices are told. */
  @Post('read-all')
  @HttpCode(HttpStatus.OK)
  async readAll(@CurrentUser() caller: Principal): Promise<ApiResponse<{ read: number }>> {
    return ok('Notifications read', await this.notifications.markAllRead(caller.userId));
  }

  /** Marks one read (again: no change); the caller's other devices are told. */
  @Post(':id/read')
  @HttpCode(HttpStatus.OK)
  async read(
    @Param() params: NotificationIdParamDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<Notification>> {
    return ok('Notification read', await this.notifications.markRead(caller.userId, params.id));
  }
}
