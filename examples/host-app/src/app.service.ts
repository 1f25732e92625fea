import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { NotificationsService, PresenceService, type PresenceState, type Principal } from 'switchboard';

export interface Order {
  id: string;
  item: string;
  placedAt: string;
}

/** The host's own business: orders, kept in memory for the example. */
@Injectable()
export class AppService {
  private readonly orders = new Map<string, Order[]>();

  constructor(
    private readonly notifications: NotificationsService,
    private readonly presence: PresenceService,
  ) {}

  /** Places the order, then tells its buyer on every device (stored, and live if connected). */
  async placeOrder(userId: string, item: string): Promise<Order> {
    const order: Order = { id: randomUUID(), item, placedAt: new Date().toISOString() };
    this.orders.set(userId, [...this.ordersOf(userId), order]);
    await this.notifications.notify({
      userId,
      title: 'Order placed',
      body: `${item} is on its way`,
      data: { orderId: order.id },
    });
    return order;
  }

  ordersOf(userId: string): Order[] {
    return this.orders.get(userId) ?? [];
  }

  countOrders(): number {
    return [...this.orders.values()].reduce((total, orders) => total + orders.length, 0);
  }

  /** Whether the user is online, as the viewer may see it (an invisible user looks offline). */
  whois(viewer: Principal, userId: string): Promise<PresenceState> {
    return this.presence.stateFor(viewer, userId);
  }
}
