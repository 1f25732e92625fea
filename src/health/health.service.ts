import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { DatabaseService, type DatabaseHealth } from '../database/database.service.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { RedisService, type RedisHealth } from '../redis/redis.service.js';

export interface HealthReport {
  status: 'ok' | 'down';
  serverId: string;
  connections: number;
  uptimeS: number;
  checks: { redis: RedisHealth; database: DatabaseHealth };
}

@Injectable()
export class HealthService {
  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly database: DatabaseService,
    private readonly registry: ConnectionRegistry,
    private readonly realtime: RealtimeServer,
  ) {}

  /**
   * `down` (503) when a required dependency is unreachable or the server is shutting down,
   * so a load balancer stops routing here.
   */
  async report(): Promise<HealthReport> {
    const [redis, database] = await Promise.all([this.redis.checkHealth(), this.database.checkHealth()]);
    const down = redis.status === 'down' || database.status === 'down' || this.realtime.isClosing;
    return {
      status: down ? 'down' : 'ok',
      serverId: this.config.server.serverId,
      connections: this.registry.localConnectionCount,
      uptimeS: Math.round(process.uptime()),
      checks: { redis, database },
    };
  }
}
