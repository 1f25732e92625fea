import { Controller, Get, Header, HttpStatus, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Public } from '../auth/auth.metadata.js';
import { HealthService, type HealthReport, type LivenessReport } from './health.service.js';

/** A probe's answer holds for this moment only: neither a cache nor a proxy may keep it. */
const NO_STORE = ['Cache-Control', 'no-store'] as const;

/**
 * Probes for load balancers and orchestrators: `live` tells whether the process answers at all
 * (restart it if not), `ready` (and `/api/health`, the same) takes it out of rotation with a 503.
 * `/ws/health` answers exactly as `/api/health`, for probes of the WebSocket paths.
 */
@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Public()
  @Get('api/health')
  @Header(...NO_STORE)
  check(@Res({ passthrough: true }) response: Response): Promise<HealthReport> {
    return this.ready(response);
  }

  /** The answer of `/api/health`, next to the WebSocket paths `/ws/events` and `/ws/admin`. */
  @Public()
  @Get('ws/health')
  @Header(...NO_STORE)
  wsHealth(@Res({ passthrough: true }) response: Response): Promise<HealthReport> {
    return this.ready(response);
  }

  @Public()
  @Get('api/health/ready')
  @Header(...NO_STORE)
  async ready(@Res({ passthrough: true }) response: Response): Promise<HealthReport> {
    const report = await this.health.readiness();
    // `degraded` stays 200: the instance still serves its own clients (see HealthService).
    response.status(report.status === 'down' ? HttpStatus.SERVICE_UNAVAILABLE : HttpStatus.OK);
    return report;
  }

  /** 200 while the process runs, shutting down included: that is readiness's business. */
  @Public()
  @Get('api/health/live')
  @Header(...NO_STORE)
  live(): LivenessReport {
    return this.health.liveness();
  }
}
