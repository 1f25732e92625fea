import {
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  HttpStatus,
  Injectable,
  Post,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { Request } from 'express';
import { AppError } from '../common/errors.js';
import { ok, type ApiResponse } from '../common/http-response.js';
import { AppConfig } from '../config/app-config.js';
import { NodeEnv } from '../config/environment.js';
import { Public } from './auth.metadata.js';
import type { LogoutResult, Whoami } from './auth.events.js';
import { CurrentUser } from './current-user.decorator.js';
import { mintToken } from './dev-credentials.js';
import { DevTokenDto, LogoutDto } from './dto/auth.dto.js';
import { isDirectLoopbackRequest } from './loopback.js';
import type { Principal } from './principal.js';
import { SessionRevoker } from './session-revoker.js';

/**
 * Answers like an unknown route unless the server runs in development, can mint tokens, and the
 * request comes straight from this machine (see `isDirectLoopbackRequest`): as a guard, before
 * the body is even validated, so nothing tells the route exists.
 */
@Injectable()
class DevelopmentLoopbackOnly implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    const { env, auth } = this.config;
    if (env === NodeEnv.Development && auth.key.kind === 'secret' && isDirectLoopbackRequest(request))
      return true;
    throw AppError.notFound(`Cannot ${request.method} ${request.path}`);
  }
}

/** `/api/auth` (docs/protocol.md, Authentication): who the caller is, logging out, development tokens. */
@Controller('api/auth')
export class AuthController {
  constructor(
    private readonly revoker: SessionRevoker,
    private readonly config: AppConfig,
  ) {}

  @Get('me')
  me(@CurrentUser() caller: Principal): ApiResponse<Whoami> {
    return ok('You', {
      userId: caller.userId,
      roles: [...caller.roles],
      ...(caller.sessionId === undefined ? {} : { sessionId: caller.sessionId }),
      expiresAt: new Date(caller.expiresAt).toISOString(),
      claims: { ...caller.claims },
    });
  }

  /** Revokes the caller's session (or, `everywhere`, all of theirs): its connections close everywhere. */
  @Post('logout')
  @HttpCode(HttpStatus.OK)
  async logout(
    @Body() body: LogoutDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<LogoutResult>> {
    const sessionIds = await this.revoker.logout(caller, body.everywhere === true);
    return ok('Logged out', { sessionIds });
  }

  /** Development only, from this machine only: anywhere else it does not exist. */
  @Public()
  @UseGuards(DevelopmentLoopbackOnly)
  @Post('dev-token')
  @HttpCode(HttpStatus.OK)
  @Header('Cache-Control', 'no-store')
  devToken(@Body() body: DevTokenDto): ApiResponse<{ token: string }> {
    return ok('Development token', { token: mintToken(this.config, body) });
  }
}
