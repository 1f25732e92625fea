import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppConfig } from '../config/app-config.js';
import { createRateLimiter } from '../redis/rate-limiter.js';
import { RedisService } from '../redis/redis.service.js';
import { AppError } from './errors.js';

const WINDOW_S = 60;

/**
 * The REST allowances: requests per client address (every request, before authentication) and
 * per user (once the token is verified), each per minute and shared by the cluster through
 * Redis. A refusal is `RATE_LIMITED` (429) with `Retry-After` in seconds.
 */
@Injectable()
export class RestRateLimits {
  private readonly perAddress: RateLimiterAbstract | null;
  private readonly perUser: RateLimiterAbstract | null;

  constructor(config: AppConfig, redis: RedisService) {
    this.perAddress = createRateLimiter(redis, {
      name: 'rest-ip',
      points: config.limits.restRequestsPerIpPerMin,
      durationS: WINDOW_S,
    });
    this.perUser = createRateLimiter(redis, {
      name: 'rest-user',
      points: config.limits.restRequestsPerUserPerMin,
      durationS: WINDOW_S,
    });
  }

  consumeForAddress(address: string, response: Response): Promise<void> {
    return consume(this.perAddress, address, response, 'Too many requests from this address');
  }

  consumeForUser(userId: string, response: Response): Promise<void> {
    return consume(this.perUser, userId, response, 'Too many requests for this user');
  }
}

/**
 * The header goes on the response before the throw: the exception filter writes the body only,
 * so whatever was set here is sent with it.
 */
async function consume(
  limiter: RateLimiterAbstract | null,
  key: string,
  response: Response,
  message: string,
): Promise<void> {
  if (!limiter) return;
  try {
    await limiter.consume(key);
  } catch (rejection) {
    if (!(rejection instanceof RateLimiterRes)) throw rejection;
    const retryAfterS = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
    response.setHeader('Retry-After', String(retryAfterS));
    throw AppError.rateLimited(`${message}; retry in ${retryAfterS} s`);
  }
}
