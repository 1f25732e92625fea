import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { RestRateLimits } from './rest-rate-limits.js';

/**
 * Counts every REST request against its client address before any guard runs, so that
 * requests without a valid token (probing, credential stuffing) are limited too. The address
 * is Express's `req.ip`, which honours `TRUST_PROXY`.
 */
@Injectable()
export class RestAddressLimitMiddleware implements NestMiddleware {
  constructor(private readonly limits: RestRateLimits) {}

  async use(request: Request, response: Response, next: NextFunction): Promise<void> {
    await this.limits.consumeForAddress(request.ip ?? request.socket.remoteAddress ?? 'unknown', response);
    next();
  }
}
