import {
  type DynamicModule,
  Global,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  RequestMethod,
} from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { AppLogger, createAppLogger, type LoggingOptions } from './app-logger.js';
import { MetricsScraperMiddleware } from './metrics-access.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';
import { RecordingTelemetry } from './recording-telemetry.js';
import { Telemetry } from './telemetry.js';

/**
 * Structured logs (`AppLogger`, Nest's logger for the whole app; HTTP request lines are
 * installed by `createApp`) and Prometheus metrics (`GET /metrics`, `Telemetry` for the
 * real-time paths). Global: the authenticator and the Socket.IO adapter report through
 * `Telemetry` without importing it.
 */
@Global()
@Module({})
export class ObservabilityModule implements NestModule {
  static forRoot(options: LoggingOptions = {}): DynamicModule {
    return {
      module: ObservabilityModule,
      controllers: [MetricsController],
      providers: [
        {
          provide: AppLogger,
          useFactory: (config: AppConfig) => createAppLogger(config, options),
          inject: [AppConfig],
        },
        MetricsService,
        RecordingTelemetry,
        { provide: Telemetry, useExisting: RecordingTelemetry },
      ],
      exports: [AppLogger, MetricsService, Telemetry],
    };
  }

  constructor(private readonly config: AppConfig) {}

  /**
   * Only with a `METRICS_TOKEN`. Mounted for every request (a route of its own would be listed
   * beside the controller's), it answers `GET /metrics` alone and passes everything else on.
   */
  configure(consumer: MiddlewareConsumer): void {
    if (this.config.metrics.token === undefined) return;
    consumer.apply(MetricsScraperMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
