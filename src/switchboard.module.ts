import {
  type DynamicModule,
  type FactoryProvider,
  type MiddlewareConsumer,
  Module,
  type ModuleMetadata,
  type NestModule,
  type Type,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE, DiscoveryModule } from '@nestjs/core';
import { AccessGuard } from './auth/access.guard.js';
import { AdminModule } from './admin/admin.module.js';
import { AuthModule } from './auth/auth.module.js';
import { ChatModule } from './chat/chat.module.js';
import { type Clock, ClockModule } from './common/clock.js';
import { HttpExceptionFilter } from './common/http-exception.filter.js';
import { PayloadShapeMiddleware } from './common/payload-shape.middleware.js';
import { RestAddressLimitMiddleware } from './common/rest-rate-limit.middleware.js';
import { createValidationPipe } from './common/validation.js';
import { AppConfig } from './config/app-config.js';
import { AppConfigModule } from './config/config.module.js';
import { EnabledFeatures, resolveFeatures, type SwitchboardFeature } from './config/features.js';
import { resolveSettings, type ResolveSettingsOptions, type SwitchboardSettings } from './config/settings.js';
import { ConnectionsModule } from './connections/connections.module.js';
import { DatabaseModule } from './database/database.module.js';
import {
  RealtimeGatewayDiscovery,
  ScopedAccessGuard,
  ScopedExceptionFilter,
  ScopedValidationPipe,
} from './embedding/scoped-enhancers.js';
import { SwitchboardScope } from './embedding/switchboard-scope.js';
import { HealthModule } from './health/health.module.js';
import { NotificationsModule } from './notifications/notifications.module.js';
import type { LoggingOptions } from './observability/app-logger.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { PresenceModule } from './presence/presence.module.js';
import { RealtimeModule } from './realtime/realtime.module.js';
import { RedisModule } from './redis/redis.module.js';
import { SessionsModule } from './sessions/sessions.module.js';

/** The module of each feature; the core (auth, connections, health, metrics) is always there. */
const FEATURE_MODULES: Readonly<Record<SwitchboardFeature, Type>> = {
  sessions: SessionsModule,
  chat: ChatModule,
  presence: PresenceModule,
  notifications: NotificationsModule,
  admin: AdminModule,
};

/** What shapes the module graph, so Nest must know it before any provider runs. */
export interface SwitchboardStructureOptions extends LoggingOptions {
  /**
   * The features to run (default: all of them). One left out registers no namespace, route or
   * table; one that needs another fails boot saying so (`admin` needs `notifications` and
   * `presence`).
   */
  features?: readonly SwitchboardFeature[];
  /**
   * Switchboard's access guard over the host's own routes and gateways too (default false: only
   * over Switchboard's own, which are always guarded, and over `@RealtimeGateway` gateways).
   * Without it a host route opts in with `@UseGuards(AccessGuard)`, which `@Roles`, `@Public`
   * and `@CurrentUser` then rely on.
   */
  globalGuard?: boolean;
  /** The time token expiries are checked against (default: the system clock). */
  clock?: Clock;
}

export interface SwitchboardModuleOptions extends SwitchboardStructureOptions, ResolveSettingsOptions {
  /** The standalone server's environment variables, typed (README, Configuration). */
  settings?: SwitchboardSettings;
}

export interface SwitchboardModuleAsyncOptions extends SwitchboardStructureOptions, ResolveSettingsOptions {
  /** Modules whose providers `useFactory` injects (a `ConfigModule`, say). */
  imports?: ModuleMetadata['imports'];
  inject?: FactoryProvider['inject'];
  /** The settings, made when the application boots; validated as `forRoot` validates them. */
  useFactory: (...args: never[]) => SwitchboardSettings | Promise<SwitchboardSettings>;
}

/** @internal The standalone server's: everything app-wide, the configuration already provided. */
export interface StandaloneOptions extends SwitchboardStructureOptions {
  configModule: DynamicModule;
}

/**
 * Switchboard in a Nest application: authenticated Socket.IO on every namespace, sessions, chat,
 * presence, notifications and admin, their services for injection anywhere in the application
 * (the module is global), and their REST routes. `main.ts` makes one more call,
 * `await setupSwitchboard(app)`, which installs the Socket.IO adapter; boot fails without it.
 *
 * ```ts
 * @Module({ imports: [SwitchboardModule.forRoot({ settings: { JWT_SECRET: process.env.JWT_SECRET } })] })
 * export class AppModule {}
 * ```
 */
@Module({})
export class SwitchboardModule implements NestModule {
  constructor(private readonly scope: SwitchboardScope) {}

  /** Validates `settings` and `features` here, so a bad value throws before Nest boots. */
  static forRoot(options: SwitchboardModuleOptions = {}): DynamicModule {
    const config = resolveSettings(options.settings, options);
    return SwitchboardModule.build(
      {
        module: AppConfigModule,
        providers: [{ provide: AppConfig, useValue: config }],
        exports: [AppConfig],
      },
      options,
      false,
    );
  }

  /**
   * The settings from a factory that may inject providers (`inject`, from `imports`); a bad value
   * fails boot with the same messages. `features`, `globalGuard` and `clock` sit beside
   * `useFactory`: they decide which modules exist, which Nest settles before any factory runs.
   */
  static forRootAsync(options: SwitchboardModuleAsyncOptions): DynamicModule {
    return SwitchboardModule.build(
      {
        module: AppConfigModule,
        imports: options.imports ?? [],
        providers: [
          {
            provide: AppConfig,
            useFactory: async (...dependencies: never[]) =>
              resolveSettings(await options.useFactory(...dependencies), options),
            inject: options.inject ?? [],
          },
        ],
        exports: [AppConfig],
      },
      options,
      false,
    );
  }

  /**
   * @internal The standalone server (`AppModule`): configured from the environment by
   * `configModule`, and every route and gateway of the application is Switchboard's.
   */
  static forStandaloneServer(options: StandaloneOptions): DynamicModule {
    return SwitchboardModule.build(options.configModule, { ...options, globalGuard: true }, true);
  }

  private static build(
    configModule: DynamicModule,
    options: SwitchboardStructureOptions,
    appWide: boolean,
  ): DynamicModule {
    const features = resolveFeatures(options.features);
    const featureModules = features.list.map((feature) => FEATURE_MODULES[feature]);
    const modules: Array<Type | DynamicModule> = [
      RedisModule,
      DatabaseModule,
      RealtimeModule,
      ConnectionsModule,
      AuthModule,
      ...featureModules,
      HealthModule,
      ObservabilityModule.forRoot(options),
    ];
    const scope = new SwitchboardScope(appWide, options.globalGuard ?? false, modules);
    return {
      module: SwitchboardModule,
      global: true,
      imports: [
        { ...configModule, global: true },
        ClockModule.forRoot(options.clock),
        DiscoveryModule,
        ...modules,
      ],
      providers: [
        { provide: EnabledFeatures, useValue: features },
        { provide: SwitchboardScope, useValue: scope },
        RealtimeGatewayDiscovery,
        // The one validation pass of both transports, and the one error shape and access rule.
        // App-wide in the standalone server, where a host module's routes are Switchboard's;
        // embedded, each covers what `SwitchboardScope` says.
        appWide
          ? { provide: APP_GUARD, useClass: AccessGuard }
          : { provide: APP_GUARD, useClass: ScopedAccessGuard },
        appWide
          ? { provide: APP_PIPE, useFactory: createValidationPipe }
          : {
              provide: APP_PIPE,
              useFactory: (owned: SwitchboardScope) => new ScopedValidationPipe(owned),
              inject: [SwitchboardScope],
            },
        appWide
          ? { provide: APP_FILTER, useClass: HttpExceptionFilter }
          : { provide: APP_FILTER, useClass: ScopedExceptionFilter },
      ],
      exports: [EnabledFeatures, ...featureModules],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    const limits = consumer.apply(RestAddressLimitMiddleware, PayloadShapeMiddleware);
    if (this.scope.appWide) limits.forRoutes('{*path}');
    else limits.forRoutes(...this.scope.controllers);
  }
}
