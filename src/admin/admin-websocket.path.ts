import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Role } from '../auth/roles.js';
import { FailureLog } from '../common/failure-log.js';
import type { EventsWebSocketConnection } from '../notifications/events-websocket.connection.js';
import { EventsWebSocketDoor, type EventsWebSocketPath } from '../notifications/events-websocket.door.js';
import { EventsFrame } from '../notifications/events-websocket.frames.js';
import { LiveDelivery } from '../notifications/live-delivery.js';
import { AdminStatsPush } from './admin-stats.push.js';
import { AdminStatsService } from './admin-stats.service.js';
import { ADMIN_EVENT_PATTERNS, ADMIN_WEBSOCKET_PATH, AdminEvent } from './admin.events.js';

/**
 * `/ws/admin` (docs/protocol.md, Admin): the admin stream of `/admin` over the plain-WebSocket
 * door of `/ws/events`, role `admin`. A connection hears every `admin.*`, `security.*`,
 * `session.*` and `system.*` event as `event`, and `stats` (the `AdminStats` of `/admin`) when
 * it opens and every `ADMIN_STATS_MS`. It may send `ping` and `get_subscriptions`.
 */
@Injectable()
export class AdminWebSocketPath implements EventsWebSocketPath, OnModuleInit, OnApplicationShutdown {
  readonly roles = [Role.Admin];
  readonly clientFrames = [EventsFrame.Ping, EventsFrame.GetSubscriptions];
  private readonly failures = new FailureLog(AdminWebSocketPath.name);
  private readonly connections = new Set<EventsWebSocketConnection>();
  private readonly stops: (() => void)[] = [];

  constructor(
    private readonly door: EventsWebSocketDoor,
    private readonly delivery: LiveDelivery,
    private readonly stats: AdminStatsService,
    private readonly statsPush: AdminStatsPush,
  ) {}

  onModuleInit(): void {
    this.stops.push(
      this.door.addPath(ADMIN_WEBSOCKET_PATH, this),
      this.statsPush.add({
        present: () => this.connections.size > 0,
        push: (stats) => {
          const frame = JSON.stringify({ type: AdminEvent.Stats, payload: stats });
          for (const connection of [...this.connections]) connection.sendEncoded(frame);
        },
      }),
    );
  }

  onApplicationShutdown(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  opened(connection: EventsWebSocketConnection): void {
    this.connections.add(connection);
    try {
      this.delivery.events.subscribe(connection, ADMIN_EVENT_PATTERNS, 'all');
    } catch (error) {
      // Only an EVENTS_MAX_SUBSCRIPTIONS below the four patterns refuses them; stats still flow.
      this.failures.error(`Subscribing an ${ADMIN_WEBSOCKET_PATH} connection to the admin events`, error);
    }
    void this.stats.current().then(
      (stats) => {
        if (!connection.released) connection.send(AdminEvent.Stats, stats);
      },
      (error: unknown) => this.failures.error(`Stats for a new ${ADMIN_WEBSOCKET_PATH} connection`, error),
    );
  }

  closed(connection: EventsWebSocketConnection): void {
    this.connections.delete(connection);
  }
}
