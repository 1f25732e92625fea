import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { guarded } from '../common/failure-log.js';
import { AppConfig } from '../config/app-config.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { EventRouter, type EventAudience } from './event-router.js';
import type { LiveMessage, Notification, PublishedEvent } from './notifications.events.js';

/** Users of this instance a delivery is for: some, or everyone connected here. */
export type LocalRecipients = readonly string[] | 'everyone';

/** A change of a user's read state, for their other devices. */
export type ReadStateChange = { id: number } | { readAll: number };

/**
 * A transport that delivers to its own connections on this instance: the `/notifications`
 * namespace, the plain-WebSocket door. Events go through the shared `EventRouter` instead, where
 * each connection subscribes.
 */
export interface LiveDoor {
  deliverNotifications(notifications: readonly Notification[], to: LocalRecipients): void;
  deliverMessage(message: LiveMessage, to: LocalRecipients): void;
  deliverReadState(userId: string, change: ReadStateChange): void;
}

/** What travels to every instance. */
type Delivery =
  | { kind: 'event'; event: PublishedEvent; audience: EventAudience }
  /** Stored notifications, each to its own user, or one broadcast to everyone. */
  | { kind: 'notifications'; notifications: Notification[] }
  | { kind: 'message'; message: LiveMessage; to: LocalRecipients }
  | { kind: 'read'; userId: string; change: ReadStateChange };

const DELIVERY_CHANNEL = 'notifications:deliver';

/**
 * Live delivery of events, notifications and messages on every instance: each one is handled
 * here, then sent once to the other instances (an adapter server-side event), where it is
 * handled the same way. What the path between instances drops while Redis is down is lost live;
 * notifications are stored, and `notifications:sync` after `sync:required` recovers them.
 */
@Injectable()
export class LiveDelivery implements OnApplicationBootstrap {
  readonly events: EventRouter;
  private readonly doors = new Set<LiveDoor>();
  /** Other instances exist only over Redis. */
  private readonly clustered: boolean;

  constructor(
    private readonly realtime: RealtimeServer,
    config: AppConfig,
  ) {
    this.events = new EventRouter(config.notifications.maxSubscriptions);
    this.clustered = config.redis !== null;
  }

  onApplicationBootstrap(): void {
    this.realtime.whenReady((server) =>
      server.of('/').on(
        DELIVERY_CHANNEL,
        guarded('deliver from another instance', (delivery: Delivery) => this.deliverHere(delivery)),
      ),
    );
  }

  /** Adds a transport; returns the function that removes it. */
  addDoor(door: LiveDoor): () => void {
    this.doors.add(door);
    return () => this.doors.delete(door);
  }

  publishEvent(event: PublishedEvent, audience: EventAudience): void {
    this.everywhere({ kind: 'event', event, audience });
  }

  deliverNotifications(notifications: Notification[]): void {
    if (notifications.length > 0) this.everywhere({ kind: 'notifications', notifications });
  }

  sendMessage(message: LiveMessage, to: LocalRecipients): void {
    this.everywhere({ kind: 'message', message, to });
  }

  tellReadState(userId: string, change: ReadStateChange): void {
    this.everywhere({ kind: 'read', userId, change });
  }

  private everywhere(delivery: Delivery): void {
    this.deliverHere(delivery);
    if (this.clustered && this.realtime.isReady) {
      this.realtime.namespace('/').serverSideEmit(DELIVERY_CHANNEL, delivery);
    }
  }

  private deliverHere(delivery: Delivery): void {
    switch (delivery.kind) {
      case 'event':
        this.events.route(delivery.event, delivery.audience);
        return;
      case 'notifications': {
        const broadcast = delivery.notifications.filter((notification) => notification.userId === undefined);
        const addressed = delivery.notifications.filter((notification) => notification.userId !== undefined);
        for (const door of this.doors) {
          if (broadcast.length > 0) door.deliverNotifications(broadcast, 'everyone');
          if (addressed.length > 0) {
            door.deliverNotifications(
              addressed,
              addressed.map((notification) => notification.userId ?? ''),
            );
          }
        }
        return;
      }
      case 'message':
        for (const door of this.doors) door.deliverMessage(delivery.message, delivery.to);
        return;
      case 'read':
        for (const door of this.doors) door.deliverReadState(delivery.userId, delivery.change);
        return;
    }
  }
}
