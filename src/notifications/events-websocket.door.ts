import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { hasAnyRole } from '../auth/roles.js';
import { SocketAuthenticator } from '../auth/socket-authenticator.js';
import { AppError, HandshakeError, type ErrorBody } from '../common/errors.js';
import { FailureLog, guarded } from '../common/failure-log.js';
import { ClientAddresses } from '../common/client-address.js';
import { AppConfig } from '../config/app-config.js';
import { originRefused, ServerEvents } from '../realtime/server-events.js';
import { NodeEnv } from '../config/environment.js';
import type { ConnectionState } from '../connections/connection.types.js';
import { DeliveryGaps, type DeliveryGap } from '../realtime/delivery-gaps.js';
import { OriginPolicy } from '../realtime/origin-policy.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import type { SyncRequiredPayload } from '../realtime/realtime.events.js';
import { EventsWebSocketConnection, type EventsWebSocketHost } from './events-websocket.connection.js';
import {
  CLIENT_FRAME_TYPES,
  EventsCloseCode,
  EventsFrame,
  handshakeCloseCode,
  parseClientFrame,
  type ClientFrame,
  type FrameLimits,
} from './events-websocket.frames.js';
import { LiveDelivery, type LiveDoor, type LocalRecipients, type ReadStateChange } from './live-delivery.js';
import {
  EVENTS_WEBSOCKET_PATH,
  type LiveMessage,
  type Notification,
  type PublishedEvent,
} from './notifications.events.js';

/** Protocol-level pings: a peer that has not answered the previous one by the next is dropped. */
export const EVENTS_WEBSOCKET_PING_INTERVAL_MS = 25_000;
/**
 * How long an upgrade to a path nobody serves may wait for another listener (a host
 * application's) to answer before it is refused: Engine.IO's own `destroyUpgradeTimeout`.
 */
const UNCLAIMED_UPGRADE_GRACE_MS = 1000;
/** At shutdown, how long clients get to answer the close frame before their sockets are cut. */
const SHUTDOWN_CLOSE_WAIT_MS = 1000;

const STATUS_TEXT: Record<number, string> = {
  403: 'Forbidden',
  404: 'Not Found',
  503: 'Service Unavailable',
};

/**
 * Another path of the door (`/ws/admin`, added by the admin module): admitted and framed like
 * `/ws/events`, but with a role requirement, its own client frames, and none of the live
 * delivery (notifications, messages, read state) of `/ws/events`. Its owner decides what the
 * connection hears when it opens (subscriptions in the router, greetings).
 */
export interface EventsWebSocketPath {
  /** The token must carry one of these roles, or the connection closes 1008 `FORBIDDEN`. */
  readonly roles: readonly string[];
  /** The client frames taken; any other is answered with an `error` frame. */
  readonly clientFrames: readonly ClientFrame['type'][];
  /** After `authenticated` was sent. */
  opened(connection: EventsWebSocketConnection): void;
  /** Once, when the door forgets the connection (the router has dropped it already). */
  closed(connection: EventsWebSocketConnection): void;
}

/**
 * The plain-WebSocket door `/ws/events` (docs/protocol.md, Notifications): the same server and
 * port as Socket.IO, JSON text frames `{ type, payload }`, no Socket.IO.
 *
 * A connection is admitted by the rules of a Socket.IO handshake (`SocketAuthenticator`: the
 * token and its revocation, the handshake rate, the connection caps) and lives as an endpoint
 * in the `ConnectionRegistry`: counted, listed, kicked, revoked, expired and limited per user
 * like any socket. It subscribes to events in the shared `EventRouter` and receives
 * notifications, messages and read state as a `LiveDoor`.
 *
 * Engine.IO leaves other upgrades alone (`destroyUpgrade: false`); this door refuses those that
 * nobody answers.
 */
@Injectable()
export class EventsWebSocketDoor
  implements
    OnApplicationBootstrap,
    BeforeApplicationShutdown,
    OnApplicationShutdown,
    LiveDoor,
    EventsWebSocketHost
{
  private readonly logger = new Logger(EventsWebSocketDoor.name);
  private readonly failures = new FailureLog(EventsWebSocketDoor.name);
  private readonly server: WebSocketServer;
  private readonly originPolicy: OriginPolicy;
  private readonly frameLimits: FrameLimits;
  readonly maxOutboundBytes: number;
  private readonly open = new Set<EventsWebSocketConnection>();
  /** The `/ws/events` connections: those live delivery is for. */
  private readonly liveConnections = new Set<EventsWebSocketConnection>();
  /** The paths served besides `/ws/events`. */
  private readonly paths = new Map<string, EventsWebSocketPath>();
  private readonly byUser = new Map<string, Set<EventsWebSocketConnection>>();
  private httpServer: HttpServer | null = null;
  /** Upgrades whose path starts with this are Engine.IO's. */
  private engineIoPath = '/socket.io/';
  private heartbeat?: NodeJS.Timeout;
  private readonly stops: (() => void)[] = [];
  private closing = false;
  /** The last event encoded: the router delivers one event to all its subscribers in a row. */
  private lastEvent?: PublishedEvent;
  private lastEventFrame?: Buffer;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly authenticator: SocketAuthenticator,
    private readonly live: LiveDelivery,
    private readonly gaps: DeliveryGaps,
    private readonly realtime: RealtimeServer,
    private readonly config: AppConfig,
    private readonly serverEvents: ServerEvents,
    private readonly addresses: ClientAddresses,
  ) {
    const { limits } = config;
    this.server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: limits.maxPayloadBytes,
      perMessageDeflate: false,
    });
    this.originPolicy = new OriginPolicy(limits.corsOrigins, config.env === NodeEnv.Development);
    this.frameLimits = {
      maxPayloadDepth: limits.maxPayloadDepth,
      maxPatterns: config.notifications.maxSubscriptions,
    };
    this.maxOutboundBytes = limits.maxOutboundBufferBytes;
  }

  onApplicationBootstrap(): void {
    const httpServer = this.adapterHost.httpAdapter?.getHttpServer() as HttpServer | undefined;
    if (!httpServer) {
      this.logger.warn(`No HTTP server: ${EVENTS_WEBSOCKET_PATH} is not served`);
      return;
    }
    this.httpServer = httpServer;
    httpServer.on('upgrade', this.onUpgrade);
    this.realtime.whenReady((io) => {
      this.engineIoPath = `${io.path().replace(/\/$/, '')}/`;
    });
    this.stops.push(
      this.live.addDoor(this),
      this.gaps.onGap((gap) => this.tellGap(gap)),
    );
    this.heartbeat = setInterval(
      guarded('ping plain WebSockets', () => this.checkPeers()),
      EVENTS_WEBSOCKET_PING_INTERVAL_MS,
    );
    this.heartbeat.unref();
  }

  /** Refuses new upgrades, tells clients to reconnect and closes them; cuts those that linger. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    const connections = [...this.open];
    if (connections.length === 0) return;
    const closed = connections.map((connection) => closedPromise(connection.ws));
    for (const connection of connections) {
      connection.send(EventsFrame.System, { message: 'Server is restarting; reconnect', level: 'warning' });
      connection.ws.close(EventsCloseCode.GoingAway, 'SERVER_SHUTDOWN');
    }
    await Promise.race([Promise.all(closed), delay(SHUTDOWN_CLOSE_WAIT_MS, undefined, { ref: false })]);
    for (const connection of connections) connection.ws.terminate();
  }

  onApplicationShutdown(): void {
    clearInterval(this.heartbeat);
    this.httpServer?.off('upgrade', this.onUpgrade);
    for (const stop of this.stops.splice(0)) stop();
    for (const connection of [...this.open]) connection.ws.terminate();
    this.server.close();
  }

  /**
   * Serves `path` too (before the application starts listening); answers how to stop serving it
   * (its open connections stay until they close).
   */
  addPath(path: string, spec: EventsWebSocketPath): () => void {
    if (path === EVENTS_WEBSOCKET_PATH || this.paths.has(path)) {
      throw new Error(`The WebSocket path ${path} is served already`);
    }
    this.paths.set(path, spec);
    return () => {
      if (this.paths.get(path) === spec) this.paths.delete(path);
    };
  }

  /** How many plain WebSockets this instance holds. */
  get size(): number {
    return this.open.size;
  }

  /**
   * One round of protocol pings: a peer that has not answered the previous ping is dropped.
   * Runs every `EVENTS_WEBSOCKET_PING_INTERVAL_MS`.
   */
  checkPeers(): void {
    for (const connection of [...this.open]) {
      if (!connection.alive) {
        connection.ws.terminate();
        this.release(connection);
        continue;
      }
      connection.alive = false;
      connection.ws.ping();
    }
  }

  eventFrame(event: PublishedEvent): Buffer {
    if (event !== this.lastEvent || !this.lastEventFrame) {
      this.lastEvent = event;
      this.lastEventFrame = encode(EventsFrame.Event, event);
    }
    return this.lastEventFrame;
  }

  dropSlowConsumer(connection: EventsWebSocketConnection): void {
    this.failures.warn(
      `Dropped ${EVENTS_WEBSOCKET_PATH} connection ${connection.id} with more than ${this.maxOutboundBytes} bytes unsent (a client that stopped reading)`,
    );
    connection.ws.terminate();
    this.release(connection);
  }

  release(connection: EventsWebSocketConnection): void {
    if (connection.released) return;
    connection.released = true;
    this.open.delete(connection);
    this.liveConnections.delete(connection);
    const own = this.byUser.get(connection.userId);
    own?.delete(connection);
    if (own?.size === 0) this.byUser.delete(connection.userId);
    this.live.events.remove(connection);
    this.authenticator.closeEndpoint(connection);
    this.paths.get(connection.namespace)?.closed(connection);
  }

  deliverNotifications(notifications: readonly Notification[], to: LocalRecipients): void {
    if (this.liveConnections.size === 0) return;
    const users = to === 'everyone' ? null : new Set(to);
    for (const notification of notifications) {
      const { userId } = notification;
      // A notification of a user goes to that user only, whoever else `to` names.
      const recipients =
        userId === undefined
          ? this.connectionsOf(users)
          : users && !users.has(userId)
            ? []
            : this.ownOf(userId);
      sendToAll(recipients, () => encode(EventsFrame.Notification, notification));
    }
  }

  deliverMessage(message: LiveMessage, to: LocalRecipients): void {
    if (this.liveConnections.size === 0) return;
    sendToAll(this.connectionsOf(to === 'everyone' ? null : new Set(to)), () =>
      encode(EventsFrame.Message, message),
    );
  }

  deliverReadState(userId: string, change: ReadStateChange): void {
    const frame = () =>
      'id' in change
        ? encode(EventsFrame.NotificationRead, { id: change.id })
        : encode(EventsFrame.ReadAll, { read: change.readAll });
    sendToAll(this.ownOf(userId), frame);
  }

  private readonly onUpgrade = guarded(
    'take a WebSocket upgrade',
    (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = request.url ?? '/';
      const query = url.indexOf('?');
      const path = query === -1 ? url : url.slice(0, query);
      if (path === EVENTS_WEBSOCKET_PATH) return this.upgrade(request, socket, head, path);
      const extra = this.paths.get(path);
      if (extra) return this.upgrade(request, socket, head, path, extra);
      if (url.startsWith(this.engineIoPath)) return;
      refuseUnclaimed(socket);
    },
    (_error, _request, socket) => socket.destroy(),
  );

  /**
   * Refuses a foreign origin (403) or a shutting-down instance (503) over HTTP, then checks the
   * token before the upgrade completes, so that nothing is read from a client not admitted. A
   * refused token or limit still completes the upgrade, to close it with the code as reason.
   */
  private async upgrade(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    path: string,
    extra?: EventsWebSocketPath,
  ): Promise<void> {
    const abandon = () => socket.destroy();
    socket.on('error', abandon);
    if (this.closing) {
      refuseHttp(socket, 503, 'SERVICE_UNAVAILABLE', 'The server is shutting down; reconnect');
      return;
    }
    if (!this.originPolicy.allows(request.headers.origin, request.headers.host)) {
      this.serverEvents.emit(originRefused(request.headers.origin, this.addresses.of(request)));
      refuseHttp(socket, 403, 'FORBIDDEN', 'This origin may not open a WebSocket here');
      return;
    }
    let admitted: ConnectionState | HandshakeError;
    try {
      admitted = await this.authenticator.admitRequest(request);
    } catch (error) {
      if (!(error instanceof HandshakeError)) throw error;
      admitted = error;
    }
    if (extra && !(admitted instanceof HandshakeError) && !hasAnyRole(admitted.identity.roles, extra.roles)) {
      admitted = new HandshakeError('FORBIDDEN', `${path} requires role ${extra.roles.join(' or ')}`);
    }
    // The client left while its token was checked: nothing was registered yet.
    if (socket.destroyed) return;
    if (this.closing) {
      refuseHttp(socket, 503, 'SERVICE_UNAVAILABLE', 'The server is shutting down; reconnect');
      return;
    }
    this.server.handleUpgrade(
      request,
      socket,
      head,
      guarded(
        'open a plain WebSocket',
        (ws: WebSocket) => {
          socket.off('error', abandon);
          if (admitted instanceof HandshakeError) {
            ws.on('error', () => undefined);
            ws.close(handshakeCloseCode(admitted.code), admitted.code);
            return;
          }
          this.accept(ws, admitted, path, extra);
        },
        (_error, ws: WebSocket) => ws.close(EventsCloseCode.InternalError, 'INTERNAL'),
      ),
    );
  }

  private accept(ws: WebSocket, state: ConnectionState, path: string, extra?: EventsWebSocketPath): void {
    const connection = new EventsWebSocketConnection(ws, state, this, path);
    ws.on('error', (error) => this.failures.warn(`${path} connection: ${error.message}`));
    ws.on(
      'message',
      guarded(
        'handle a plain WebSocket frame',
        (data: RawData, isBinary: boolean) => this.receive(connection, data, isBinary),
        () => connection.sendError(internal()),
      ),
    );
    ws.on('pong', () => {
      connection.alive = true;
    });
    ws.once(
      'close',
      guarded('release a plain WebSocket', () => this.release(connection)),
    );
    this.open.add(connection);
    if (!extra) {
      this.liveConnections.add(connection);
      let own = this.byUser.get(connection.userId);
      if (!own) {
        own = new Set();
        this.byUser.set(connection.userId, own);
      }
      own.add(connection);
    }
    this.authenticator.openEndpoint(connection);
    if (connection.released) return;
    const { identity } = state;
    connection.send(EventsFrame.Authenticated, {
      userId: identity.userId,
      sessionId: identity.sessionId,
      connectionId: identity.connectionId,
      roles: identity.roles,
      expiresAt: new Date(identity.expiresAt).toISOString(),
    });
    extra?.opened(connection);
  }

  /**
   * Every frame counts against the rate first, as a socket's events do (`auth:refresh`
   * included); then its shape; then, but for a refresh, the token's expiry.
   */
  private receive(connection: EventsWebSocketConnection, data: RawData, isBinary: boolean): void {
    if (connection.released) return;
    const verdict = this.authenticator.countEvent(connection.rate);
    if (verdict !== 'allowed') {
      connection.sendError({ code: 'RATE_LIMITED', message: 'Too many frames; slow down' });
      if (verdict === 'flood') this.authenticator.closeFlooder(connection);
      return;
    }
    let frame: ClientFrame;
    try {
      const accepted = this.paths.get(connection.namespace)?.clientFrames ?? CLIENT_FRAME_TYPES;
      frame = parseClientFrame(data, isBinary, this.frameLimits, accepted);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      connection.sendError(error.toBody());
      return;
    }
    if (frame.type !== EventsFrame.Refresh && this.authenticator.hasExpired(connection.connection)) {
      connection.sendError({
        code: 'UNAUTHORIZED',
        message: 'Token expired; send auth:refresh with a new token',
      });
      return;
    }
    this.handle(connection, frame);
  }

  private handle(connection: EventsWebSocketConnection, frame: ClientFrame): void {
    const { events } = this.live;
    switch (frame.type) {
      case EventsFrame.Subscribe:
        return answer(connection, EventsFrame.Subscribed, () =>
          events.subscribe(connection, frame.eventTypes, frame.scope),
        );
      case EventsFrame.Unsubscribe:
        return answer(connection, EventsFrame.Unsubscribed, () =>
          events.unsubscribe(connection, frame.eventTypes),
        );
      case EventsFrame.GetSubscriptions:
        return answer(connection, EventsFrame.Subscriptions, () => events.subscriptionsOf(connection));
      case EventsFrame.Ping:
        return connection.send(EventsFrame.Pong, { pong: new Date().toISOString() });
      case EventsFrame.Refresh:
        return void this.refresh(connection, frame.payload).catch((error: unknown) => {
          this.failures.error('Refresh a plain WebSocket', error);
          connection.sendError(internal());
        });
    }
  }

  private async refresh(connection: EventsWebSocketConnection, payload: unknown): Promise<void> {
    const result = await this.authenticator.refreshConnection(connection.connection, payload);
    if (connection.released) return;
    if (result.ok) connection.send(EventsFrame.Refreshed, result.data);
    else connection.sendError(result.error);
  }

  /** `sync:required` to every connection of this instance, each with its own wait. */
  private tellGap({ reason, since }: DeliveryGap): void {
    const spreadMs = this.config.realtime.resyncSpreadMs;
    for (const connection of this.open) {
      const payload: SyncRequiredPayload = {
        reason,
        since: since.toISOString(),
        syncAfterMs: Math.floor(Math.random() * spreadMs),
      };
      connection.send(EventsFrame.SyncRequired, payload);
    }
  }

  /** Every connection (`users` null), or those of the users named. */
  private connectionsOf(users: ReadonlySet<string> | null): Iterable<EventsWebSocketConnection> {
    if (users === null) return this.liveConnections;
    return [...users].flatMap((userId) => [...this.ownOf(userId)]);
  }

  private ownOf(userId: string): Iterable<EventsWebSocketConnection> {
    return this.byUser.get(userId) ?? [];
  }
}

function encode(type: string, payload: unknown): Buffer {
  return Buffer.from(JSON.stringify({ type, payload }));
}

/** Encodes the frame once, if anyone is to receive it. */
function sendToAll(recipients: Iterable<EventsWebSocketConnection>, frame: () => Buffer): void {
  let encoded: Buffer | undefined;
  for (const connection of [...recipients]) {
    encoded ??= frame();
    connection.sendEncoded(encoded);
  }
}

/** Runs a request against the router: its answer as `type`, an `AppError` as an `error` frame. */
function answer(connection: EventsWebSocketConnection, type: string, action: () => unknown): void {
  let result: unknown;
  try {
    result = action();
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    connection.sendError(error.toBody());
    return;
  }
  connection.send(type, result);
}

function internal(): ErrorBody {
  return { code: 'INTERNAL', message: 'Internal server error' };
}

function closedPromise(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => ws.once('close', () => resolve()));
}

/** An HTTP answer on the raw socket of an upgrade, which never becomes a WebSocket. */
function refuseHttp(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message });
  socket.on('error', () => undefined);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * An upgrade to a path neither this door nor Engine.IO serves: refused with 404 unless another
 * listener (a host application's) answered it within the grace, as Engine.IO did before it was
 * told to leave upgrades alone.
 */
function refuseUnclaimed(socket: Duplex): void {
  socket.on('error', () => undefined);
  const timer = setTimeout(() => {
    if (socket.destroyed || (socket as NetSocket).bytesWritten > 0) return;
    refuseHttp(socket, 404, 'NOT_FOUND', 'Nothing here takes a WebSocket upgrade');
  }, UNCLAIMED_UPGRADE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
