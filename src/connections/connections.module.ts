import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { RedisService } from '../redis/redis.service.js';
import { ConnectionLifecycle } from './connection-lifecycle.js';
import { ConnectionRegistry } from './connection-registry.js';
import { ConnectionStore } from './connection.store.js';
import { MemoryConnectionStore } from './memory-connection.store.js';
import { RedisConnectionStore } from './redis-connection.store.js';

/** Who is connected, on this instance and across the cluster (the store picked by config). */
@Global()
@Module({
  providers: [
    ConnectionLifecycle,
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
  exports: [ConnectionLifecycle, ConnectionRegistry],
})
export class ConnectionsModule {}
