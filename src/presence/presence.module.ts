import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { RedisService } from '../redis/redis.service.js';
import { KyselyPresenceRepository } from './kysely-presence.repository.js';
import { PresenceController } from './presence.controller.js';
import { PresenceGateway } from './presence.gateway.js';
import { PresenceRepository } from './presence.repository.js';
import { PresenceService } from './presence.service.js';
import { MemoryPresenceStateStore, PresenceStateStore } from './presence-state.store.js';
import { RedisPresenceStateStore } from './redis-presence-state.store.js';

/** An instance's marker outlives a Redis blip this many TTLs before its users are restored. */
const MARKER_TTLS = 3;

/** Presence over `/presence` and `/api/presence`; importing modules use `PresenceService`. */
@Module({
  controllers: [PresenceController],
  providers: [
    PresenceService,
    PresenceGateway,
    { provide: PresenceRepository, useClass: KyselyPresenceRepository },
    {
      provide: PresenceStateStore,
      useFactory: (config: AppConfig, redis: RedisService) =>
        redis.enabled
          ? new RedisPresenceStateStore(redis.client, redis.keyPrefix, config.presence.ttlMs * MARKER_TTLS)
          : new MemoryPresenceStateStore(),
      inject: [AppConfig, RedisService],
    },
  ],
  exports: [PresenceService],
})
export class PresenceModule {}
