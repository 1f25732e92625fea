import { Controller, Get, Header } from '@nestjs/common';
import { Roles } from '../auth/auth.metadata.js';
import { Role } from '../auth/roles.js';
import { METRICS_CONTENT_TYPE, MetricsService } from './metrics.service.js';

/**
 * `GET /metrics`, Prometheus's text format. An admin's JWT passes the app-wide guard; a scraper
 * sends `METRICS_TOKEN` as its Bearer credential and is answered before the guard
 * (`MetricsScraperMiddleware`).
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Roles(Role.Admin)
  @Header('Content-Type', METRICS_CONTENT_TYPE)
  @Header('Cache-Control', 'no-store')
  render(): Promise<string> {
    return this.metrics.render();
  }
}
