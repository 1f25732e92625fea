import {
  DynamicModule,
  Module,
  type MiddlewareConsumer,
  type ModuleMetadata,
  type NestModule,
} from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AuthModule } from './auth/auth.module.js';
import { ChatModule } from './chat/chat.module.js';
import { type Clock, ClockModule } from './common/clock.js';
import { AppConfigModule, type AppConfigModuleOptions } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { HealthModule } from './health/health.module.js';
import { HttpExceptionFilter } from './common/http-exception.filter.js';
import { PayloadShapeMiddleware } from './common/payload-shape.middleware.js';
import { NotificationsModule } from './notifications/notifications.module.js';
import { PresenceModule } from './presence/presence.module.js';
import { RealtimeModule } from './realtime/realtime.module.js';
import { ConnectionsModule } from './connections/connections.module.js';
import { RestAddressLimitMiddleware } from './common/rest-rate-limit.middleware.js';
import { createValidationPipe } from './common/validation.js';
import { RedisModule } from './redis/redis.module.js';
import { SessionsModule } from './sessions/sessions.module.js';

export interface AppModuleOptions extends AppConfigModuleOptions {
  /** Modules of a host application served beside Switchboard's, under the same auth and limits. */
  imports?: ModuleMetadata['imports'];
  /** The time token expiries are checked against (default: the system clock). */
  clock?: Clock;
}

@Module({})
export class AppModule implements NestModule {
  /** Validates the configuration first, so that a bad value rejects here, before Nest boots. */
  static async forRoot(options: AppModuleOptions = {}): Promise<DynamicModule> {
    const configModule = await AppConfigModule.forRoot(options);
    return {
      module: AppModule,
      imports: [
        configModule,
        ClockModule.forRoot(options.clock),
        RedisModule,
        DatabaseModule,
        RealtimeModule,
        ConnectionsModule,
        AuthModule,
        SessionsModule,
        ChatModule,
        PresenceModule,
        NotificationsModule,
        HealthModule,
        ...(options.imports ?? []),
      ],
      providers: [
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
        // The one validation pass of both transports: every REST route and every gateway's
        // events, a host application's included (`@RealtimeGateway` adds no pipe of its own).
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RestAddressLimitMiddleware, PayloadShapeMiddleware).forRoutes('{*path}');
  }
}
