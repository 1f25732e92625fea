import { Body, Controller, Headers, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { Roles } from '../auth/auth.metadata.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ok, type ApiResponse } from '../common/http-response.js';
import { IDEMPOTENCY_KEY_HEADER, publishOptionsOf, SendMessageDto } from './dto/publish.dto.js';
import type { PublishResult, SendMessageToUsersRequest } from './notifications.events.js';
import { NotificationsService } from './notifications.service.js';

/**
 * `POST /api/messages` (docs/protocol.md, Notifications), role `service` (or `admin`): a message
 * to one user, several or everyone, delivered live as `message` `{ type, data, timestamp }`.
 * Messages are never stored, so the answer is 202 Accepted with `stored: 0`, also for a retry with
 * the same `Idempotency-Key`, which sends nothing again.
 */
@Controller('api/messages')
@Roles(Role.Service)
export class MessagesController {
  constructor(private readonly notifications: NotificationsService) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async send(
    @Body() body: SendMessageDto,
    @CurrentUser() caller: Principal,
    @Headers(IDEMPOTENCY_KEY_HEADER) idempotencyKey?: string,
  ): Promise<ApiResponse<PublishResult>> {
    const options = publishOptionsOf(idempotencyKey, caller.userId);
    // Exactly one of the recipient fields is enforced by the service, which names the field.
    const request = body as SendMessageToUsersRequest;
    return ok('Message sent', await this.notifications.sendMessage(request, options));
  }
}
