import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Cluster, Redis, RedisOptions } from 'ioredis';
import { AppConfig, RedisTarget } from '../config/app-config.js';

export type RedisClient = Redis | Cluster;

export interface RedisHealth {
  status: 'up' | 'down' | 'disabled';
  latencyMs?: number;
  error?: string;
}

const RECONNECT_MAX_DELAY_MS = 2000;

/**
 * Owns every Redis connection of the process. Connections reconnect forever: a Redis outage
 * is logged and reported by health, never fatal, and work resumes when Redis comes back.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  private readonly clients: RedisClient[] = [];
  private readonly target: RedisTarget | null;
  private commandClient: RedisClient | null = null;

  constructor(config: AppConfig) {
    this.target = config.redis;
  }

  get enabled(): boolean {
    return this.target !== null;
  }

  get keyPrefix(): string {
    return this.target?.keyPrefix ?? '';
  }

  /** The shared client for ordinary commands (auto-pipelined). */
  get client(): RedisClient {
    this.commandClient ??= this.connect('commands', { enableAutoPipelining: true });
    return this.commandClient;
  }

  /**
   * A dedicated connection, for subscribers and the Socket.IO adapter. `offlineQueue: false`
   * makes commands fail fast while Redis is down instead of piling up in memory.
   */
  connect(name: string, overrides: Partial<RedisOptions> = {}): RedisClient {
    const target = this.requireTarget();
    const options: RedisOptions = {
      connectionName: `switchboard:${name}`,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      retryStrategy: (attempt) => Math.min(attempt * 100, RECONNECT_MAX_DELAY_MS),
      reconnectOnError: () => true,
      ...overrides,
    };
    const client =
      target.kind === 'cluster'
        ? new Cluster(target.nodes, { redisOptions: options, clusterRetryStrategy: options.retryStrategy })
        : new Redis(target.url, options);
    this.watch(client, name);
    this.clients.push(client);
    return client;
  }

  async checkHealth(): Promise<RedisHealth> {
    if (!this.target) return { status: 'disabled' };
    const started = performance.now();
    try {
      await this.client.ping();
      return { status: 'up', latencyMs: Math.round((performance.now() - started) * 100) / 100 };
    } catch (error) {
      return { status: 'down', error: error instanceof Error ? error.message : String(error) };
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.clients.map((client) => client.quit()));
    this.clients.length = 0;
    this.commandClient = null;
  }

  private requireTarget(): RedisTarget {
    if (!this.target) throw new Error('Redis is not configured (set REDIS_URL or REDIS_CLUSTER_NODES)');
    return this.target;
  }

  private watch(client: RedisClient, name: string): void {
    let healthy = true;
    client.on('error', (error: Error) => {
      if (healthy) this.logger.warn(`Redis connection "${name}" failed: ${error.message}`);
      healthy = false;
    });
    client.on('ready', () => {
      if (!healthy) this.logger.log(`Redis connection "${name}" is back`);
      healthy = true;
    });
  }
}
