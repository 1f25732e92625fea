import { BadRequestException, Body, Controller, Get, Param, Post, UseGuards } from '@nestjs/common';
import { AccessGuard, CurrentUser, Public, Role, Roles, type Principal } from 'switchboard';
import { AppService, type Order } from './app.service';

/** The host's own routes. Switchboard's guard covers them because this controller asks for it. */
@Controller()
@UseGuards(AccessGuard)
export class AppController {
  constructor(private readonly app: AppService) {}

  @Public()
  @Get()
  getHello(): string {
    return 'Hello from the host app';
  }

  @Post('orders')
  placeOrder(@CurrentUser() user: Principal, @Body() body: { item?: unknown }): Promise<Order> {
    if (typeof body?.item !== 'string' || body.item.trim() === '') {
      throw new BadRequestException('item must be a non-empty string');
    }
    return this.app.placeOrder(user.userId, body.item.trim());
  }

  @Get('whois/:userId')
  whois(@CurrentUser() user: Principal, @Param('userId') userId: string) {
    return this.app.whois(user, userId);
  }

  @Roles(Role.Admin)
  @Get('admin/orders')
  countOrders(): { count: number } {
    return { count: this.app.countOrders() };
  }
}
