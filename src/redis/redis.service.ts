import { readFileSync } from 'node:fs';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import {
  AbstractConnector,
  Cluster,
  Redis,
  type ClusterOptions,
  type RedisOptions,
  type StandaloneConnectionOptions,
} from 'ioredis';
import { AppConfig, RedisTarget } from '../config/app-config.js';
import { errorMessage } from '../common/failure-log.js';

export type RedisClient = Redis | Cluster;

/** One connection opened through `RedisService.connect`, as health reports it. */
export interface RedisConnectionHealth {
  /** The name given to `connect`; the shared command client is `commands`. */
  name: string;
  /** ioredis's state of the connection; only `ready` carries commands and subscriptions. */
  state: RedisClient['status'];
  /** The last failure seen on it, while it is not ready. */
  error?: string;
}

export interface RedisHealth {
  /** `down` while Redis does not answer or any connection of this process is not ready. */
  status: 'up' | 'down' | 'disabled';
  latencyMs?: number;
  /** Every problem found, when `down`. */
  error?: string;
  connections?: RedisConnectionHealth[];
}

interface TrackedConnection {
  readonly name: string;
  readonly client: RedisClient;
  lastError?: string;
}

const RECONNECT_MAX_DELAY_MS = 2000;
const CLUSTER_SLOTS_REFRESH_MS = 2000;
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
  private readonly connections: TrackedConnection[] = [];
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
   * `clusterOverrides` apply only on a Redis Cluster (e.g. `shardedSubscribers` for a client
   * that SSUBSCRIBEs).
   */
  connect(
    name: string,
    overrides: Partial<RedisOptions> = {},
    clusterOverrides: Partial<ClusterOptions> = {},
  ): RedisClient {
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
        ? new Cluster(target.nodes, {
            redisOptions: { ...options, ...this.clusterNodeOptions(target) },
            clusterRetryStrategy: options.retryStrategy,
            // A Cluster client queues and pipelines at its own level, above the nodes' options:
            // without these a command waits for a cluster that never comes (wrong password,
            // every node down) instead of failing fast.
            enableOfflineQueue: options.enableOfflineQueue,
            ...(options.enableAutoPipelining === undefined
              ? {}
              : { enableAutoPipelining: options.enableAutoPipelining }),
            natMap: target.natMap,
            // After a failover, ioredis learns the new topology only when a command needs a node
            // it lost; counting a quiet namespace's subscribers (health) would ask stale nodes.
            slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS,
            // With TLS the certificates name the hosts as configured: resolving them to addresses
            // first would fail the certificate check.
            ...(target.tls
              ? {
                  dnsLookup: (address: string, callback: (error: null, address: string) => void) =>
                    callback(null, address),
                }
              : {}),
            ...clusterOverrides,
          })
        : new Redis(target.url, options);
    const connection: TrackedConnection = { name, client };
    this.connections.push(connection);
    this.watch(connection);
    return client;
  }

  /** Credentials and TLS for every node of a cluster (a single Redis takes them from its URL). */
  private clusterNodeOptions(target: Extract<RedisTarget, { kind: 'cluster' }>): Partial<RedisOptions> {
    return {
      ...(target.username === undefined ? {} : { username: target.username }),
      ...(target.password === undefined ? {} : { password: target.password }),
      ...(target.tls
        ? {
            tls: target.tls.caFile === undefined ? {} : { ca: readFileSync(target.tls.caFile) },
            Connector: TlsConnector,
          }
        : {}),
    };
  }

  /**
   * The state of every connection opened through `connect`, those of other modules (the
   * Socket.IO adapter's publisher and subscriber) included, so that health needs no handle on
   * them. A connection its owner closed for good (`quit`, `disconnect`) is no longer listed.
   */
  connectionHealth(): RedisConnectionHealth[] {
    return this.connections.map(({ name, client, lastError }) => ({
      name,
      state: client.status,
      ...(client.status !== 'ready' && lastError !== undefined ? { error: lastError } : {}),
    }));
  }

  /**
   * `up` when the command connection answers a PING (on a cluster, reports `cluster_state:ok`)
   * and every other connection is ready too: a publisher or subscriber that is down cuts this
   * instance off from the others' broadcasts even while commands still work.
   */
  async checkHealth(): Promise<RedisHealth> {
    if (!this.target) return { status: 'disabled' };
    const commands = this.client;
    const started = performance.now();
    // A command connection that is not ready fails a PING at once (no offline queue); its state
    // and last error, listed below, say more than that failure would.
    const pingError =
      commands.status === 'ready'
        ? await (commands instanceof Cluster ? clusterStateOf(commands) : commands.ping()).then(
            () => undefined,
            (error: unknown) => errorMessage(error),
          )
        : undefined;
    const latencyMs = Math.round((performance.now() - started) * 100) / 100;
    const connections = this.connectionHealth();
    const problems = connections
      .filter(({ state }) => state !== 'ready')
      .map(({ name, state, error }) => `connection "${name}" is ${state}${error ? `: ${error}` : ''}`);
    if (pingError !== undefined) {
      problems.unshift(`${commands instanceof Cluster ? 'CLUSTER INFO' : 'PING'} failed: ${pingError}`);
    }
    return problems.length === 0
      ? { status: 'up', latencyMs, connections }
      : { status: 'down', error: problems.join('; '), connections };
  }

  async onApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.allSettled(this.connections.map(({ client }) => client.quit()));
    this.connections.length = 0;
    this.commandClient = null;
  }

  private requireTarget(): RedisTarget {
    if (!this.target) throw new Error('Redis is not configured (set REDIS_URL or REDIS_CLUSTER_NODES)');
    return this.target;
  }

  /**
   * Logs each outage of a connection once, when it starts, and once when the connection is back;
   * keeps its last failure for health.
   */
  private watch(connection: TrackedConnection): void {
    const { client, name } = connection;
    let healthy = true;
    const lost = (reason: string) => {
      if (healthy && !this.shuttingDown) this.logger.warn(`Redis connection "${name}" lost: ${reason}`);
      healthy = false;
    };
    client.on('error', (error: Error) => {
      connection.lastError = error.message;
      lost(error.message);
    });
    client.on('close', () => {
      connection.lastError ??= 'connection closed';
      lost('connection closed');
    });
    client.on('ready', () => {
      if (!healthy) this.logger.log(`Redis connection "${name}" is back`);
      healthy = true;
      connection.lastError = undefined;
    });
    // Connections retry forever (see `connect`) unless an override says otherwise, so one that
    // ends was closed by its owner, or given up on by the owner's own options: it no longer counts.
    client.once('end', () => {
      const index = this.connections.indexOf(connection);
      if (index !== -1) this.connections.splice(index, 1);
    });
  }
}

/**
 * Opens a node's TLS connection as ioredis's own connector does (host, port, family, then the
 * `tls` options), and keeps listening for the socket's errors as long as it lives. ioredis
 * listens for a connection's first error only, but a TLS socket can emit two: when ioredis drops
 * a node whose handshake is under way (its pool does so when a slot refresh fails), the
 * certificate check fails, then the server's alert arrives. Unheard, that second error ended the
 * process, e.g. at start with a CA that did not sign the nodes' certificates. ioredis still
 * handles the first error as before; later ones are the same failure and are dropped.
 */
class TlsConnector extends AbstractConnector {
  private readonly options: StandaloneConnectionOptions;

  constructor(options: unknown) {
    const standalone = options as StandaloneConnectionOptions;
    super(standalone.disconnectTimeout ?? TLS_DISCONNECT_TIMEOUT_MS);
    this.options = standalone;
  }

  connect(): Promise<TLSSocket> {
    const { host, port, family, tls } = this.options;
    this.connecting = true;
    return new Promise((resolve, reject) => {
      // As ioredis does: on the next tick, so that a disconnect right after connect wins.
      process.nextTick(() => {
        if (!this.connecting) {
          reject(new Error(CONNECTION_CLOSED));
          return;
        }
        let stream: TLSSocket;
        try {
          stream = connectTls({
            ...(port === undefined ? {} : { port }),
            ...(host === undefined ? {} : { host }),
            ...(family === undefined ? {} : { family }),
            ...tls,
          });
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        let first = true;
        stream.on('error', (error: Error) => {
          if (first) this.firstError = error;
          first = false;
        });
        this.stream = stream;
        resolve(stream);
      });
    });
  }
}

/** ioredis's default `disconnectTimeout`, should its options lack one. */
const TLS_DISCONNECT_TIMEOUT_MS = 2000;
/** The message of ioredis's own error for a connection closed before it opened. */
const CONNECTION_CLOSED = 'Connection is closed.';

/**
 * On a Redis Cluster a PING goes to any node and succeeds while the cluster refuses every key
 * (`CLUSTERDOWN`, e.g. a master without a replica is gone), and the client stays `ready`: the
 * node's own view of the cluster is what says whether commands and sharded broadcasts work.
 */
async function clusterStateOf(cluster: Cluster): Promise<void> {
  const info = String(await cluster.cluster('INFO'));
  const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
  if (state !== 'ok') throw new Error(`cluster_state is ${state}`);
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
