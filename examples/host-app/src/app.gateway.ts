import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { CurrentUser, type Principal } from 'switchboard';
import { AppService, type Order } from './app.service';

/**
 * The host's own namespace. Switchboard's adapter authenticates its handshakes like its own:
 * a socket without a valid token never connects, so every handler knows its user.
 */
@WebSocketGateway({ namespace: '/orders' })
export class AppGateway {
  constructor(private readonly app: AppService) {}

  @SubscribeMessage('orders:mine')
  mine(@CurrentUser() user: Principal): Order[] {
    return this.app.ordersOf(user.userId);
  }
}
