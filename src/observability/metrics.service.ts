import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { HANDSHAKE_ERROR_CODES } from '../common/error-codes.js';
import { errorMessage } from '../common/failure-log.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import { onQueryDuration } from '../database/error-translating-dialect.js';
import { DatabaseService } from '../database/database.service.js';
import { PresenceStateStore } from '../presence/presence-state.store.js';
import { RedisService } from '../redis/redis.service.js';
import { EventLabels } from './event-names.js';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** The `result` of a handshake that passed. */
export const HANDSHAKE_OK = 'ok';

/** Handshake refusals that are not a `HandshakeError` of the authenticator. */
const ENGINE_REFUSALS = ['FORBIDDEN_ORIGIN'] as const;

/** Socket.IO acks answer within milliseconds, or within seconds when storage is slow. */
const ACK_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const QUERY_BUCKETS_S = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Kysely's query node kinds as a bounded `operation` label. */
const OPERATIONS: Record<string, string> = {
  SelectQueryNode: 'select',
  InsertQueryNode: 'insert',
  UpdateQueryNode: 'update',
  DeleteQueryNode: 'delete',
  MergeQueryNode: 'merge',
  RawNode: 'raw',
};
const OTHER_OPERATION = 'other';

/** A counter's series, listed at 0 from the start: `rate()` then sees its first increment. */
function zeroed<Child extends { inc(value?: number): void }>(child: Child): Child {
  child.inc(0);
  return child;
}

let processRegistry: Registry | undefined;

/**
 * Process and Node.js metrics (`process_*`, `nodejs_*`): one set per process, however many apps
 * it runs (the tests start several), collected when scraped.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The app's Prometheus metrics. Counters and histograms are incremented where things happen,
 * through series bound once per label value (`RecordingTelemetry`); gauges of state held
 * elsewhere (database and Redis reachability, online users) are read when scraped.
 */
@Injectable()
export class MetricsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  readonly registry = new Registry();

  readonly connections = new Gauge({
    name: 'switchboard_connections',
    help: 'Open endpoints of this instance: Socket.IO namespace sockets and plain WebSockets',
    labelNames: ['namespace', 'door'] as const,
    registers: [this.registry],
  });

  readonly handshakes = new Counter({
    name: 'switchboard_handshakes_total',
    help: 'Handshakes of either door by result: ok, or the refusal code',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  private readonly eventsInCounter = new Counter({
    name: 'switchboard_events_in_total',
    help: 'Socket.IO events received from clients past the per-socket gate, by event (unknown names: other)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  private readonly eventsOutCounter = new Counter({
    name: 'switchboard_events_out_total',
    help: 'Socket.IO events emitted by this instance, by event (a broadcast counts once, whatever its recipients)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  private readonly ackLatency = new Histogram({
    name: 'switchboard_ack_latency_seconds',
    help: 'Time from an event reaching its handler to its answer going back through the ack, by event',
    labelNames: ['event'] as const,
    buckets: ACK_BUCKETS_S,
    registers: [this.registry],
  });

  private readonly storageLatency = new Histogram({
    name: 'switchboard_storage_query_duration_seconds',
    help: 'Database query duration, by operation',
    labelNames: ['operation'] as const,
    buckets: QUERY_BUCKETS_S,
    registers: [this.registry],
  });

  readonly eventsIn = new EventLabels((event) => zeroed(this.eventsInCounter.labels(event)));
  readonly eventsOut = new EventLabels((event) => zeroed(this.eventsOutCounter.labels(event)));
  readonly acks = new EventLabels((event) => this.ackLatency.labels(event));
  private readonly operations = new Map(
    [...new Set([...Object.values(OPERATIONS), OTHER_OPERATION])].map((operation) => [
      operation,
      this.storageLatency.labels(operation),
    ]),
  );
  private stopTimingQueries?: () => void;

  constructor(
    private readonly redis: RedisService,
    private readonly database: DatabaseService,
    private readonly registryOfConnections: ConnectionRegistry,
    private readonly moduleRef: ModuleRef,
  ) {
    for (const result of [HANDSHAKE_OK, ...HANDSHAKE_ERROR_CODES, ...ENGINE_REFUSALS]) {
      zeroed(this.handshakes.labels(result));
    }
    this.registerStateGauges();
  }

  onModuleInit(): void {
    this.stopTimingQueries = onQueryDuration((kind, seconds) => this.queryTook(kind, seconds));
  }

  onApplicationShutdown(): void {
    this.stopTimingQueries?.();
  }

  /** The Prometheus text exposition of the process's and the app's metrics. */
  async render(): Promise<string> {
    const [process, app] = await Promise.all([processMetrics().metrics(), this.registry.metrics()]);
    return `${process.trimEnd()}\n\n${app}`;
  }

  private queryTook(kind: string, seconds: number): void {
    const operation = OPERATIONS[kind] ?? OTHER_OPERATION;
    this.operations.get(operation)?.observe(seconds);
  }

  /** Gauges whose value lives elsewhere, read once per scrape. */
  private registerStateGauges(): void {
    this.stateGauge(
      'switchboard_client_connections',
      'Client connections of this instance (a connection holds one or more endpoints)',
      () => this.registryOfConnections.localConnectionCount,
    );
    this.stateGauge('switchboard_database_up', '1 when the database answers a query, else 0', async () =>
      (await this.database.checkHealth()).status === 'up' ? 1 : 0,
    );
    if (this.redis.enabled) {
      this.stateGauge(
        'switchboard_redis_up',
        '1 when Redis answers and every Redis connection of this instance is ready, else 0',
        async () => ((await this.redis.checkHealth()).status === 'up' ? 1 : 0),
      );
    }
    this.stateGauge(
      'switchboard_presence_online_users',
      'Users announced online across the cluster (those in their grace period included)',
      () => this.countOnline(),
    );
  }

  /** A gauge set from `read` on each scrape; `undefined` keeps the last reading. */
  private stateGauge(
    name: string,
    help: string,
    read: () => number | undefined | Promise<number | undefined>,
  ): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        const value = await read();
        if (value !== undefined) this.set(value);
      },
    });
  }

  /** SCARD on Redis; while Redis is down, its own gauge says so and this one keeps its reading. */
  private async countOnline(): Promise<number | undefined> {
    const store = this.presenceStore();
    if (!store) return undefined;
    try {
      return await store.countOnline();
    } catch (error) {
      this.logger.debug(`Could not count online users: ${errorMessage(error)}`);
      return undefined;
    }
  }

  private presenceStore(): PresenceStateStore | undefined {
    try {
      return this.moduleRef.get(PresenceStateStore, { strict: false });
    } catch {
      return undefined;
    }
  }
}
