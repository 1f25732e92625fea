import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig, buildAppConfig, BuildConfigOptions } from './app-config.js';
import { validateEnvironment } from './environment.js';

const CONFIG_KEY = 'switchboard';

export interface AppConfigModuleOptions extends BuildConfigOptions {
  /** Read `.env` from the working directory before the process environment (default true). */
  envFile?: boolean;
}

/**
 * Validates the environment once, when the module is defined (before Nest boots), and
 * provides the typed `AppConfig` globally.
 */
@Global()
@Module({})
export class AppConfigModule {
  static async forRoot(options: AppConfigModuleOptions = {}): Promise<DynamicModule> {
    const configModule = await ConfigModule.forRoot({
      ignoreEnvFile: options.envFile === false,
      validate: (raw) => ({ [CONFIG_KEY]: buildAppConfig(validateEnvironment(raw), options) }),
    });
    return {
      module: AppConfigModule,
      imports: [configModule],
      providers: [
        {
          provide: AppConfig,
          useFactory: (configService: ConfigService) => configService.getOrThrow<AppConfig>(CONFIG_KEY),
          inject: [ConfigService],
        },
      ],
      exports: [AppConfig],
    };
  }
}
