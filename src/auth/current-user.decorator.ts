import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { Socket } from 'socket.io';
import { identityOf } from '../connections/connection.types.js';
import type { Principal } from './principal.js';

/** The authenticated caller of an HTTP route or socket event. */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  if (context.getType() === 'ws') return identityOf(context.switchToWs().getClient<Socket>());
  return context.switchToHttp().getRequest<Request & { user: Principal }>().user;
});
