import { DynamicModule, Module, type ModuleMetadata } from '@nestjs/common';
import type { Clock } from './common/clock.js';
import { AppConfigModule, type AppConfigModuleOptions } from './config/config.module.js';
import type { LoggingOptions } from './observability/app-logger.js';
import { SwitchboardModule } from './switchboard.module.js';

export interface AppModuleOptions extends AppConfigModuleOptions, LoggingOptions {
  /** Modules of a host application served beside Switchboard's, under the same auth and limits. */
  imports?: ModuleMetadata['imports'];
  /** The time token expiries are checked against (default: the system clock). */
  clock?: Clock;
}

/**
 * The standalone server: every feature, configured from the environment, with the admin console.
 * Switchboard's guard, validation, error shape and REST limits cover every route, those of the
 * `imports` included. (An application of its own imports `SwitchboardModule` instead.)
 */
@Module({})
export class AppModule {
  /** Validates the configuration first, so that a bad value rejects here, before Nest boots. */
  static async forRoot(options: AppModuleOptions = {}): Promise<DynamicModule> {
    const configModule = await AppConfigModule.forRoot(options);
    return {
      module: AppModule,
      imports: [
        SwitchboardModule.forStandaloneServer({ ...options, configModule }),
        ...(options.imports ?? []),
      ],
    };
  }
}
