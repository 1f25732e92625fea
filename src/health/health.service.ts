import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { DatabaseService, type DatabaseHealth } from '../database/database.service.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { RedisService, type RedisHealth } from '../redis/redis.service.js';
import { errorMessage } from '../common/failure-log.js';

/**
 * `ok`: all is well. `degraded`: this instance serves its own clients, but something it can do
 * without is missing (Redis: broadcasts to and from other instances, cluster-wide state).
 * `down`: it must not take traffic (the database is unreachable, or it is shutting down).
 */
export type HealthStatus = 'ok' | 'degraded' | 'down';

export interface HealthReport {
  status: HealthStatus;
  serverId: string;
  connections: number;
  uptimeS: number;
  /** Why the status is not `ok`, one entry per cause; absent when it is `ok`. */
  reasons?: string[];
  checks: { redis: RedisHealth; database: DatabaseHealth };
}

export interface LivenessReport {
  status: 'ok';
  serverId: string;
  uptimeS: number;
}

interface Finding {
  status: Exclude<HealthStatus, 'ok'>;
  reason: string;
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

  /** The process runs and answers; nothing it depends on is consulted. */
  liveness(): LivenessReport {
    return { status: 'ok', serverId: this.config.server.serverId, uptimeS: uptimeS() };
  }

  /**
   * Whether this instance may take traffic. The database is required: without it, or while the
   * instance shuts down, it is `down`. Redis is not: an outage leaves every instance serving its
   * own clients, so it reports `degraded` and stays in rotation — were it `down`, every instance
   * would be drained at once and a Redis blip would become a full outage.
   */
  async readiness(): Promise<HealthReport> {
    const [redis, database, unreached] = await Promise.all([
      this.redis.checkHealth(),
      this.database.checkHealth(),
      this.broadcastsNotReachingEveryInstance(),
    ]);
    const findings: Finding[] = [];
    if (this.realtime.isClosing) findings.push({ status: 'down', reason: 'shutting down' });
    if (database.status === 'down') {
      findings.push({ status: 'down', reason: `database unreachable: ${database.error ?? 'unknown error'}` });
    }
    if (redis.status === 'down') {
      findings.push({
        status: 'degraded',
        reason:
          'redis unavailable, broadcasts to and from other instances and cluster-wide state are ' +
          `interrupted: ${redis.error ?? 'unknown error'}`,
      });
    }
    if (unreached) findings.push({ status: 'degraded', reason: unreached });
    const status: HealthStatus = findings.some((finding) => finding.status === 'down')
      ? 'down'
      : findings.length > 0
        ? 'degraded'
        : 'ok';
    return {
      status,
      serverId: this.config.server.serverId,
      connections: this.registry.localConnectionCount,
      uptimeS: uptimeS(),
      ...(findings.length > 0 ? { reasons: findings.map((finding) => finding.reason) } : {}),
      checks: { redis, database },
    };
  }

  /**
   * On a Redis Cluster, connection states do not say whether broadcasts get through: a client
   * stays `ready` while one master is gone, and each namespace's channel lives on one master.
   * What the adapter itself counts does: the instances subscribed to each namespace's channel
   * (on the master owning it) against those whose heartbeat is live. Fewer means some instances
   * miss this one's broadcasts (or this one theirs); a count that fails means a master cannot be
   * reached. Undefined when every namespace reaches every live instance.
   */
  private async broadcastsNotReachingEveryInstance(): Promise<string | undefined> {
    if (this.config.redis?.kind !== 'cluster') return undefined;
    try {
      const [live, reach] = await withTimeout(
        Promise.all([
          this.registry.liveInstanceIds(),
          Promise.all(
            this.realtime.namespaces().map(async (namespace) => ({
              name: namespace.name,
              servers: await namespace.adapter.serverCount(),
            })),
          ),
        ]),
        BROADCAST_CHECK_TIMEOUT_MS,
      );
      const short = reach.filter(({ servers }) => servers < live.length);
      if (short.length === 0) return undefined;
      return (
        'broadcasts to and from other instances are interrupted: ' +
        short
          .map(({ name, servers }) => `${name} reaches ${servers} of ${live.length} live instances`)
          .join(', ')
      );
    } catch (error) {
      return `broadcasts to and from other instances are interrupted: cannot count the instances that receive them: ${errorMessage(error)}`;
    }
  }
}

/** A health probe answers within a load balancer's timeout even when a master does not. */
const BROADCAST_CHECK_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function uptimeS(): number {
  return Math.round(process.uptime());
}
