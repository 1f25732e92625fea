import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Cluster, Redis, RedisOptions } from 'ioredis';
import { AppConfig, RedisTarget } from '../config/app-config.js';

export type RedisClient = Redis | Cluster;

export interface RedisHealth {
  status: 'up' | 'down' | 'disabled';
  latencyMs?: number;
  error?: string;
}

const RECONNECT_MAX_DELAY_MS = 2000;
const COMMAND_TIMEOUT_MS = 2000;
/** How long start-up waits for a Redis connection before serving degraded. */
const READY_TIMEOUT_MS = 5000;

/**
 * Owns every Redis connection of the process. Connections reconnect forever: a Redis outage
 * is logged and reported by health, never fatal, and work resumes when Redis comes back.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  private readonly clients: RedisClient[] = [];
  private readonly target: RedisTarget | null;
  private commandClient: RedisClient | null = null;
  private shuttingDown = false;

  constructor(config: AppConfig) {
    this.target = config.redis;
  }

  get enabled(): boolean {
    return this.target !== null;
  }

  get keyPrefix(): string {
    return this.target?.keyPrefix ?? '';
  }

  /**
   * The shared client for ordinary commands (auto-pipelined). Commands fail at once while Redis
   * is unreachable instead of waiting in a queue: callers on a request path (revocation checks,
   * rate limits, health) fall back or answer 503 without stalling.
   */
  get client(): RedisClient {
    this.commandClient ??= this.connect('commands', {
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      commandTimeout: COMMAND_TIMEOUT_MS,
    });
    return this.commandClient;
  }

  /** Opens the command connection before the app listens, waiting briefly for it to be ready. */
  async onModuleInit(): Promise<void> {
    if (!this.target) return;
    if (!(await waitUntilReady(this.client))) {
      this.logger.warn('Redis is not reachable yet; running degraded until it is');
    }
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
    this.shuttingDown = true;
    await Promise.allSettled(this.clients.map((client) => client.quit()));
    this.clients.length = 0;
    this.commandClient = null;
  }

  private requireTarget(): RedisTarget {
    if (!this.target) throw new Error('Redis is not configured (set REDIS_URL or REDIS_CLUSTER_NODES)');
    return this.target;
  }

  /** Logs each outage of a connection once, when it starts, and once when the connection is back. */
  private watch(client: RedisClient, name: string): void {
    let healthy = true;
    const lost = (reason: string) => {
      if (healthy && !this.shuttingDown) this.logger.warn(`Redis connection "${name}" lost: ${reason}`);
      healthy = false;
    };
    client.on('error', (error: Error) => lost(error.message));
    client.on('close', () => lost('connection closed'));
    client.on('ready', () => {
      if (!healthy) this.logger.log(`Redis connection "${name}" is back`);
      healthy = true;
    });
  }
}

/** Resolves true once `client` is ready, false if it is not within `READY_TIMEOUT_MS`. */
export function waitUntilReady(client: RedisClient): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), READY_TIMEOUT_MS);
    const onReady = () => finish(true);
    function finish(ready: boolean) {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    }
    client.once('ready', onReady);
  });
}
