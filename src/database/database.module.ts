import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { EnabledFeatures } from '../config/features.js';
import { DatabaseService } from './database.service.js';

/**
 * Provides the migrated database to every module. The async factory makes Nest wait for the
 * connection and the migrations before the application starts listening.
 */
@Global()
@Module({
  providers: [
    {
      provide: DatabaseService,
      // Only the chosen features' tables (every feature's when nothing says which).
      useFactory: (config: AppConfig, features?: EnabledFeatures) =>
        DatabaseService.connect(config.database, features),
      inject: [AppConfig, { token: EnabledFeatures, optional: true }],
    },
  ],
  exports: [DatabaseService],
})
export class DatabaseModule {}
