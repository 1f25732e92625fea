import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { RedisService } from '../redis/redis.service.js';
import { ClientAddresses } from './client-address.js';
import { ConnectionRegistry } from './connection-registry.js';
import { ConnectionStore } from './connection.store.js';
import { MemoryConnectionStore } from './memory-connection.store.js';
import { RealtimeServer } from './realtime-server.js';
import { RedisConnectionStore } from './redis-connection.store.js';

/** The shared real-time plumbing every feature module builds on. */
@Global()
@Module({
  providers: [
    ClientAddresses,
    RealtimeServer,
    ConnectionRegistry,
    {
      provide: ConnectionStore,
      useFactory: (config: AppConfig, redis: RedisService) =>
        redis.enabled
          ? new RedisConnectionStore(
              redis.client,
              config.server.serverId,
              redis.keyPrefix,
              config.presence.ttlMs,
            )
          : new MemoryConnectionStore(config.server.serverId),
      inject: [AppConfig, RedisService],
    },
  ],
  exports: [ClientAddresses, RealtimeServer, ConnectionRegistry],
})
export class RealtimeModule {}
