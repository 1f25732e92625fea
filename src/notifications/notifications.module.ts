import { Module } from '@nestjs/common';
import { KyselyNotificationRepository } from './kysely-notification.repository.js';
import { EventsWebSocketDoor } from './events-websocket.door.js';
import { EventsController } from './events.controller.js';
import { LiveDelivery } from './live-delivery.js';
import { MessagesController } from './messages.controller.js';
import { NotificationRepository } from './notification.repository.js';
import { NotificationsController } from './notifications.controller.js';
import { NotificationsGateway } from './notifications.gateway.js';
import { NotificationsService } from './notifications.service.js';
import { ServerEventsPublisher } from './server-events.publisher.js';

/**
 * Event streams, notifications and messages over `/notifications`, the plain-WebSocket door
 * `/ws/events` and REST; importing modules use `NotificationsService`.
 */
@Module({
  controllers: [NotificationsController, EventsController, MessagesController],
  providers: [
    LiveDelivery,
    EventsWebSocketDoor,
    NotificationsService,
    NotificationsGateway,
    ServerEventsPublisher,
    { provide: NotificationRepository, useClass: KyselyNotificationRepository },
  ],
  exports: [NotificationsService, LiveDelivery, EventsWebSocketDoor],
})
export class NotificationsModule {}
