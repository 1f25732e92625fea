import { createHash, timingSafeEqual } from 'node:crypto';
import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { METRICS_CONTENT_TYPE, MetricsService } from './metrics.service.js';

const BEARER = /^Bearer +(\S+) *$/i;
const METRICS_PATH = '/metrics';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * `METRICS_TOKEN` for scrapers, which hold no JWT: a request to `GET /metrics` whose Bearer
 * credential is that token is answered here, before the app-wide guard would try it as a JWT.
 * The comparison takes the same time whatever the guess (equal-length digests, compared in
 * constant time). Anything else goes on to the route, where only an admin's JWT passes.
 */
@Injectable()
export class MetricsScraperMiddleware implements NestMiddleware {
  private readonly expected: Buffer | null;

  constructor(
    config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.expected = config.metrics.token === undefined ? null : digest(config.metrics.token);
  }

  use(request: Request, response: Response, next: NextFunction): void {
    if (!this.isScraper(request)) {
      next();
      return;
    }
    this.metrics.render().then(
      (text) => {
        response.setHeader('Cache-Control', 'no-store');
        response.type(METRICS_CONTENT_TYPE).send(text);
      },
      (error: unknown) => next(error),
    );
  }

  private isScraper(request: Request): boolean {
    if (!this.expected || request.method !== 'GET' || request.path !== METRICS_PATH) return false;
    const credential = BEARER.exec(request.headers.authorization ?? '')?.[1];
    return credential !== undefined && timingSafeEqual(digest(credential), this.expected);
  }
}
