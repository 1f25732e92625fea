import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { PresenceModule } from '../presence/presence.module.js';
import { RedisService } from '../redis/redis.service.js';
import { AdminAuditRepository } from './admin-audit.repository.js';
import { AdminStatsPush } from './admin-stats.push.js';
import { AdminStatsService } from './admin-stats.service.js';
import { AdminController } from './admin.controller.js';
import { AdminGateway } from './admin.gateway.js';
import { AdminWebSocketPath } from './admin-websocket.path.js';
import { AdminService } from './admin.service.js';
import {
  InstanceStatsStore,
  MemoryInstanceStatsStore,
  RedisInstanceStatsStore,
} from './instance-stats.store.js';
import { KyselyAdminAuditRepository } from './kysely-admin-audit.repository.js';

/** A published record outlives its instance's last heartbeat by this many TTLs. */
const RECORD_KEPT_FOR_TTLS = 3;

/**
 * Administration over `/admin`, `/ws/admin` and `/api/admin` (role `admin`): cluster stats, the admin event
 * stream, disconnecting users, broadcasts, revoking sessions, and the audit log of it all.
 * Importing modules use `AdminService` and `AdminStatsService`.
 */
@Module({
  imports: [NotificationsModule, PresenceModule],
  controllers: [AdminController],
  providers: [
    AdminService,
    AdminStatsService,
    AdminStatsPush,
    AdminGateway,
    AdminWebSocketPath,
    { provide: AdminAuditRepository, useClass: KyselyAdminAuditRepository },
    {
      provide: InstanceStatsStore,
      useFactory: (config: AppConfig, redis: RedisService) =>
        redis.enabled
          ? new RedisInstanceStatsStore(
              redis.client,
              redis.keyPrefix,
              config.presence.ttlMs * RECORD_KEPT_FOR_TTLS,
            )
          : new MemoryInstanceStatsStore(),
      inject: [AppConfig, RedisService],
    },
  ],
  exports: [AdminService, AdminStatsService],
})
export class AdminModule {}
