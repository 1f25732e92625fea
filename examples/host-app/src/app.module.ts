import { Module } from '@nestjs/common';
import { SwitchboardModule } from 'switchboard';
import { AppController } from './app.controller';
import { AppGateway } from './app.gateway';
import { AppService } from './app.service';

@Module({
  imports: [
    // Switchboard's settings are the standalone server's environment variables, typed. The
    // factory runs at boot rather than when this file loads; `features` leaves admin out.
    SwitchboardModule.forRootAsync({
      features: ['sessions', 'chat', 'presence', 'notifications'],
      useFactory: () => ({
        JWT_SECRET: process.env.JWT_SECRET,
        DATABASE_URL: process.env.DATABASE_URL ?? 'sqlite:./data/host-app.db',
        REDIS_URL: process.env.REDIS_URL,
        CORS_ORIGINS: process.env.CORS_ORIGINS,
        LOG_LEVEL: process.env.LOG_LEVEL,
      }),
    }),
  ],
  controllers: [AppController],
  providers: [AppService, AppGateway],
})
export class AppModule {}
