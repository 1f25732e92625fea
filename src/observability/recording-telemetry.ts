import { performance } from 'node:perf_hooks';
import { Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';
import { SocketEndpoint, type ConnectionEndpoint } from '../connections/connection.types.js';
import { AppLogger } from './app-logger.js';
import { HANDSHAKE_OK, MetricsService } from './metrics.service.js';
import { Telemetry } from './telemetry.js';

type GaugeChild = ReturnType<Gauge<'namespace' | 'door'>['labels']>;

interface OpenEndpoint {
  gauge: GaugeChild;
  openedAt: number;
}

/** Which door an endpoint came through: a Socket.IO namespace or the plain WebSocket. */
function doorOf(endpoint: ConnectionEndpoint): string {
  return endpoint instanceof SocketEndpoint ? 'socket.io' : 'websocket';
}

/**
 * The app's `Telemetry`: metrics through series bound once per label value, and one log line
 * per endpoint opened and closed (connection id, user, namespace, door, address; never a token).
 */
@Injectable()
export class RecordingTelemetry extends Telemetry {
  private readonly open = new WeakMap<ConnectionEndpoint, OpenEndpoint>();
  private readonly gauges = new Map<string, GaugeChild>();
  private readonly gateways = new WeakSet<object>();
  private readonly handshakes = new Map<string, { inc(): void }>();
  private readonly ok: { inc(): void };
  private readonly log: Logger;

  constructor(
    private readonly metrics: MetricsService,
    logger: AppLogger,
  ) {
    super();
    this.ok = metrics.handshakes.labels(HANDSHAKE_OK);
    this.log = logger.child('Connections');
  }

  endpointOpened(endpoint: ConnectionEndpoint): void {
    if (this.open.has(endpoint)) return;
    const door = doorOf(endpoint);
    const gauge = this.gaugeOf(endpoint.namespace, door);
    gauge.inc();
    this.ok.inc();
    this.open.set(endpoint, { gauge, openedAt: performance.now() });
    this.log.info(this.describe(endpoint, door), `Connection opened ${endpoint.namespace}`);
  }

  endpointClosed(endpoint: ConnectionEndpoint): void {
    const open = this.open.get(endpoint);
    if (!open) return;
    this.open.delete(endpoint);
    open.gauge.dec();
    this.log.info(
      {
        ...this.describe(endpoint, doorOf(endpoint)),
        durationMs: Math.round(performance.now() - open.openedAt),
      },
      `Connection closed ${endpoint.namespace}`,
    );
  }

  handshakeRefused(code: string): void {
    let counter = this.handshakes.get(code);
    if (!counter) {
      // Codes come from the server's own refusals (a fixed set), never from a client.
      counter = this.metrics.handshakes.labels(code);
      this.handshakes.set(code, counter);
    }
    counter.inc();
  }

  learnHandlers(gateway: object, handlers: readonly { message: unknown }[]): void {
    if (this.gateways.has(gateway)) return;
    this.gateways.add(gateway);
    const names = handlers.map(({ message }) => String(message));
    this.metrics.eventsIn.learn(names);
    this.metrics.eventsOut.learn(names);
    this.metrics.acks.learn(names);
  }

  eventIn(event: unknown): void {
    this.metrics.eventsIn.of(event).inc();
  }

  eventOut(event: unknown): void {
    this.metrics.eventsOut.of(event).inc();
  }

  ackAnswered(event: unknown, startedAt: number): void {
    this.metrics.acks.of(event).observe((performance.now() - startedAt) / 1000);
  }

  private gaugeOf(namespace: string, door: string): GaugeChild {
    const key = `${door} ${namespace}`;
    let gauge = this.gauges.get(key);
    if (!gauge) {
      gauge = this.metrics.connections.labels(namespace, door);
      this.gauges.set(key, gauge);
    }
    return gauge;
  }

  private describe(endpoint: ConnectionEndpoint, door: string) {
    const { identity, ipAddress } = endpoint.connection;
    return {
      event: 'connection',
      connectionId: identity.connectionId,
      userId: identity.userId,
      sessionId: identity.sessionId,
      namespace: endpoint.namespace,
      door,
      endpointId: endpoint.id,
      address: ipAddress,
    };
  }
}
