import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
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
      useFactory: (config: AppConfig) => DatabaseService.connect(config.database),
      inject: [AppConfig],
    },
  ],
  exports: [DatabaseService],
})
export class DatabaseModule {}
