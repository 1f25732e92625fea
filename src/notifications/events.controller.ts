import { Body, Controller, Headers, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { Roles } from '../auth/auth.metadata.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ok, type ApiResponse } from '../common/http-response.js';
import { IDEMPOTENCY_KEY_HEADER, PublishEventDto, publishOptionsOf } from './dto/publish.dto.js';
import type { PublishedEvent, PublishResult } from './notifications.events.js';
import { NotificationsService } from './notifications.service.js';

/** What `POST /api/events` answers: the event as its subscribers received it, and its reach. */
export interface EventPublished extends PublishResult {
  id: string;
  event: PublishedEvent;
}

/**
 * `POST /api/events` (docs/protocol.md, Notifications), role `service` (or `admin`): publishes an
 * event to its subscribers on every instance. Events are live only, so nothing is created: the
 * answer is 202 Accepted, also for a retry with the same `Idempotency-Key`, which publishes
 * nothing and answers the first result.
 */
@Controller('api/events')
@Roles(Role.Service)
export class EventsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async publish(
    @Body() body: PublishEventDto,
    @CurrentUser() caller: Principal,
    @Headers(IDEMPOTENCY_KEY_HEADER) idempotencyKey?: string,
  ): Promise<ApiResponse<EventPublished>> {
    const options = publishOptionsOf(idempotencyKey, caller.userId);
    const { event, targetedConnections, stored } = await this.notifications.publishEvent(body, options);
    return ok('Event published', { id: event.id, event, targetedConnections, stored });
  }
}
