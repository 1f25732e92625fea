import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { Request, Response } from 'express';
import type { Socket } from 'socket.io';
import { identityOf } from '../connections/connection.types.js';
import { AppError } from '../common/errors.js';
import { RestRateLimits } from '../common/rest-rate-limits.js';
import { PUBLIC_KEY, ROLES_KEY } from './auth.metadata.js';
import type { Principal } from './principal.js';
import { hasAnyRole } from './roles.js';

/**
 * The one app-wide guard, driven by `@Roles` and `@Public`. HTTP: a valid token on every route
 * but public ones (the shared token verifier through Passport), then the user's request
 * allowance, then the roles. Socket events: identity and expiry were settled before the event reached Nest (handshake,
 * per-socket gate) and events have their own rate limit, so only the roles.
 */
@Injectable()
export class AccessGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly limits: RestRateLimits,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const required = this.reflector.getAllAndOverride<string[] | undefined>(ROLES_KEY, targets);
    if (context.getType() === 'ws') {
      requireRoles(identityOf(context.switchToWs().getClient<Socket>()).roles, required);
      return true;
    }
    if (context.getType() !== 'http') return true;
    if (this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC_KEY, targets)) return true;
    await super.canActivate(context);
    const http = context.switchToHttp();
    const { user } = http.getRequest<Request & { user: Principal }>();
    await this.limits.consumeForUser(user.userId, http.getResponse<Response>());
    requireRoles(user.roles, required);
    return true;
  }

  /**
   * Passport's verdict. The strategy refuses by throwing `AppError`s that already carry their
   * code; anything else it threw is a failure of the server, not of the token, and goes on to be
   * logged and answered as such.
   */
  override handleRequest<TUser = Principal>(error: unknown, user: TUser | false): TUser {
    if (error) throw error instanceof Error ? error : new Error('Authentication failed', { cause: error });
    if (!user) throw AppError.unauthenticated('AUTH_INVALID', 'Authentication could not be completed');
    return user;
  }
}

/** Refuses by throwing, on both transports, so that the refusal keeps its code and message. */
function requireRoles(granted: readonly string[], required: string[] | undefined): void {
  if (required && !hasAnyRole(granted, required)) {
    throw AppError.forbidden(`Requires role ${required.join(' or ')}`);
  }
}
