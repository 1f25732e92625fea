import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { errorMessage } from '../common/failure-log.js';
import { ServerEvents, type ServerEvent } from '../realtime/server-events.js';
import { NotificationsService } from './notifications.service.js';

/** Events about an address are grouped over this window. */
const AGGREGATION_WINDOW_MS = 1000;

interface Pending {
  event: ServerEvent;
  count: number;
}

/**
 * Publishes what the server noticed (`ServerEvents`) as events: about a user, to that user;
 * about the system or an attacker, to admins only. Under attack, events about an address are
 * aggregated to at most one per type and address per window, with the count, so that a flood is
 * not amplified into an event storm.
 */
@Injectable()
export class ServerEventsPublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ServerEventsPublisher.name);
  private readonly pending = new Map<string, Pending>();
  private timer?: NodeJS.Timeout;
  private stopListening?: () => void;

  constructor(
    private readonly serverEvents: ServerEvents,
    private readonly notifications: NotificationsService,
  ) {}

  onModuleInit(): void {
    this.stopListening = this.serverEvents.on((event) => this.take(event));
    this.timer = setInterval(() => this.flush(), AGGREGATION_WINDOW_MS);
    this.timer.unref();
  }

  /** Not at module destruction, which comes first: a shutdown is itself an event to tell. */
  onApplicationShutdown(): void {
    this.stopListening?.();
    clearInterval(this.timer);
    this.flush();
  }

  private take(event: ServerEvent): void {
    if (event.address === undefined) {
      this.publish(event, 1);
      return;
    }
    const key = `${event.type}\u0000${event.address}`;
    const pending = this.pending.get(key);
    if (pending) pending.count += 1;
    else this.pending.set(key, { event, count: 1 });
  }

  private flush(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const { event, count } of due) this.publish(event, count);
  }

  private publish({ type, userId, sessionId, address, data }: ServerEvent, count: number): void {
    this.notifications
      .publishEvent({
        type,
        ...(userId === undefined ? {} : { userId }),
        ...(sessionId === undefined ? {} : { sessionId }),
        data: { ...data, ...(address === undefined ? {} : { address, count }) },
      })
      .catch((error: unknown) => this.logger.warn(`Could not publish ${type}: ${errorMessage(error)}`));
  }
}
