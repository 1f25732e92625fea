import type { ConnectionEndpoint } from '../connections/connection.types.js';

/**
 * What the real-time paths tell observability (metrics, connection log lines). Injected where
 * handshakes, endpoints and events happen; each call on a per-event path is a map lookup and an
 * increment of a pre-bound series. `Telemetry.none` records nothing, for code built without
 * the observability module (unit tests).
 */
export abstract class Telemetry {
  /** A handshake passed and its endpoint (a namespace socket, a plain WebSocket) is open. */
  abstract endpointOpened(endpoint: ConnectionEndpoint): void;

  /** An endpoint that `endpointOpened` saw has closed; any other is ignored. */
  abstract endpointClosed(endpoint: ConnectionEndpoint): void;

  /** A handshake (namespace, plain WebSocket upgrade, Engine.IO origin check) was refused. */
  abstract handshakeRefused(code: string): void;

  /**
   * The events a gateway handles get series of their own: names that belong to code, never to
   * what clients send. Called for each socket of the gateway; the first call counts.
   */
  abstract learnHandlers(gateway: object, handlers: readonly { message: unknown }[]): void;

  /** An event a client sent reached the dispatcher. */
  abstract eventIn(event: unknown): void;

  /** The server emitted an event (a broadcast counts once, whatever its recipients). */
  abstract eventOut(event: unknown): void;

  /** A handler's answer went back through the event's ack; `startedAt` is `performance.now()`. */
  abstract ackAnswered(event: unknown, startedAt: number): void;

  static readonly none: Telemetry = new (class extends Telemetry {
    endpointOpened(): void {}
    endpointClosed(): void {}
    handshakeRefused(): void {}
    learnHandlers(): void {}
    eventIn(): void {}
    eventOut(): void {}
    ackAnswered(): void {}
  })();
}
