import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit, Optional } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Socket } from 'socket.io';
import { AppConfig } from '../config/app-config.js';
import { createRateLimiter } from '../redis/rate-limiter.js';
import { createValidationPipe } from '../common/validation.js';
import { userRoom } from '../realtime/rooms.js';
import { RedisService } from '../redis/redis.service.js';
import { ClientAddresses } from '../common/client-address.js';
import { Clock } from '../common/clock.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import {
  attachConnection,
  attachEndpoint,
  carryToken,
  connectionOf,
  countEvent,
  endpointOf,
  eventRateOf,
  type ConnectionEndpoint,
  type ConnectionState,
  type EventRateVerdict,
  type EventRateWindow,
} from '../connections/connection.types.js';
import { ackFailure, envelope, type AckResponse } from '../common/envelope.js';
import { AppError, HandshakeError } from '../common/errors.js';
import { ServerEvents } from '../realtime/server-events.js';
import { FailureLog, guarded } from '../common/failure-log.js';
import { describeShapeProblem, payloadShapeProblem } from '../common/payload-shape.js';
import type { SocketHooks } from '../realtime/realtime-io.adapter.js';
import { Telemetry } from '../observability/telemetry.js';
import { GATEWAY_NAMESPACE_KEY, ROLES_KEY } from './auth.metadata.js';
import { AuthEvent, type RefreshResult } from './auth.events.js';
import { RefreshRequestDto } from './dto/refresh.dto.js';
import { ExpirySchedule } from './expiry-schedule.js';
import { hasAnyRole } from './roles.js';
import { AuthenticationFailure, TokenAdmission, type AdmittedToken } from './token-admission.js';
import { extractHandshakeToken, extractRequestToken } from './token-extractor.js';

/**
 * Authentication of live sockets, on every namespace: the handshake middleware that refuses
 * with a precise `connect_error`, connection and per-user limits, expiry at `exp` with
 * `auth:expired`, `auth:refresh`, and the per-socket gate that refuses events after expiry
 * or over the rate limit before they reach a gateway.
 *
 * Other doors (the plain WebSocket `/ws/events`) admit and keep their connections by the same
 * rules through `admitRequest`, `openEndpoint`, `closeEndpoint`, `countEvent`, `closeFlooder`,
 * `hasExpired` and `refreshConnection`.
 */
@Injectable()
export class SocketAuthenticator implements OnModuleInit, OnApplicationShutdown, SocketHooks {
  private readonly logger = new Logger(SocketAuthenticator.name);
  private readonly failures = new FailureLog(SocketAuthenticator.name);
  private readonly connections = new WeakMap<object, ConnectionState>();
  private readonly rolesByNamespace = new Map<string, string[]>();
  private readonly expiries: ExpirySchedule<ConnectionState>;
  /** Connections with an `auth:refresh` under way: one at a time, so refreshes cannot pile up. */
  private readonly refreshing = new WeakSet<ConnectionState>();
  private readonly validation = createValidationPipe();
  private readonly handshakeLimiter: RateLimiterAbstract | null;
  private pendingHandshakes = 0;

  constructor(
    private readonly config: AppConfig,
    private readonly admission: TokenAdmission,
    private readonly registry: ConnectionRegistry,
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
    private readonly addresses: ClientAddresses,
    redis: RedisService,
    private readonly clock: Clock,
    private readonly serverEvents: ServerEvents,
    @Optional() private readonly telemetry: Telemetry = Telemetry.none,
  ) {
    this.expiries = new ExpirySchedule<ConnectionState>(
      guarded('expire a connection', (connection: ConnectionState) => this.expire(connection)),
      clock,
    );
    this.handshakeLimiter = createRateLimiter(redis, {
      name: 'handshake',
      points: config.limits.handshakesPerIpPerMin,
      durationS: 60,
    });
  }

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const type = wrapper.metatype;
      if (!type || typeof type !== 'function') continue;
      const namespace = this.reflector.get<string | undefined>(GATEWAY_NAMESPACE_KEY, type);
      const roles = this.reflector.get<string[] | undefined>(ROLES_KEY, type);
      if (namespace !== undefined && roles?.length) this.rolesByNamespace.set(namespace, roles);
    }
  }

  onApplicationShutdown(): void {
    this.expiries.clear();
  }

  readonly use = (socket: Socket, next: (error?: Error) => void): void => {
    this.authenticate(socket).then(
      () => next(),
      (error: unknown) => next(this.refused(socket.request, this.handshakeFailure(error))),
    );
  };

  /** A failure here leaves a socket without a registration or a gate: it is closed, not served. */
  readonly onConnection = guarded(
    'set up an authenticated socket',
    (socket: Socket) => this.setUpSocket(socket),
    (_error, socket: Socket) => {
      socket.emit('exception', {
        code: 'INTERNAL',
        message: 'The connection could not be set up; reconnect',
      });
      socket.disconnect(true);
    },
  );

  private setUpSocket(socket: Socket): void {
    const connection = connectionOf(socket);
    const endpoint = attachEndpoint(socket, connection);
    socket.use(
      guarded(
        'gate an event',
        (packet: unknown[], next: (error?: Error) => void) => this.gateEvent(socket, packet, next),
        (_error, packet: unknown[]) => answer(socket, packet[packet.length - 1], internalFailure()),
      ),
    );
    socket.on(
      AuthEvent.Refresh,
      guarded(
        'refresh a token',
        async (...args: unknown[]) => {
          const ack = typeof args.at(-1) === 'function' ? args.pop() : undefined;
          answer(socket, ack, await this.refresh(socket, args));
        },
        (_error, ...args: unknown[]) => answer(socket, args.at(-1), internalFailure()),
      ),
    );
    socket.once(
      'disconnect',
      guarded('release a socket', () => this.closeEndpoint(endpoint)),
    );
    this.openEndpoint(endpoint);
    const { identity } = connection;
    socket.emit(
      AuthEvent.Authenticated,
      envelope(AuthEvent.Authenticated, {
        userId: identity.userId,
        sessionId: identity.sessionId,
        connectionId: identity.connectionId,
        roles: identity.roles,
        expiresAt: new Date(identity.expiresAt).toISOString(),
      }),
    );
  }

  /**
   * Puts an authenticated endpoint in the registry. The first endpoint of a connection starts its
   * expiry and, under `SESSION_POLICY=single`, replaces the user's older connections.
   */
  openEndpoint(endpoint: ConnectionEndpoint): void {
    const { connection } = endpoint;
    const isFirstEndpoint = connection.endpoints.size === 0;
    this.telemetry.endpointOpened(endpoint);
    this.registry.register(endpoint);
    if (!isFirstEndpoint) return;
    const { identity } = connection;
    this.serverEvents.emit({
      type: 'session.created',
      userId: identity.userId,
      sessionId: identity.sessionId,
      data: {
        connectionId: identity.connectionId,
        namespace: endpoint.namespace,
        userAgent: connection.userAgent,
      },
    });
    this.expiries.schedule(connection, connection.identity.expiresAt);
    if (this.config.limits.sessionPolicy === 'single') this.replaceOlderConnections(connection);
  }

  /** Forgets an endpoint that closed; with the last one of its connection, the expiry goes too. */
  closeEndpoint(endpoint: ConnectionEndpoint): void {
    this.telemetry.endpointClosed(endpoint);
    this.registry.unregister(endpoint);
    if (endpoint.connection.endpoints.size === 0) this.expiries.cancel(endpoint.connection);
  }

  /**
   * Admits a connection of another door from its HTTP request (a WebSocket upgrade) exactly as a
   * first namespace handshake: the token (`Authorization: Bearer`, `?token=` or the `authToken`
   * cookie), the handshake rate of the address, `TokenAdmission` (claims, revocation),
   * `MAX_CONNECTIONS` and `MAX_CONNECTIONS_PER_USER`. Refuses with a `HandshakeError`; the
   * connection is not registered until `openEndpoint`.
   */
  async admitRequest(request: IncomingMessage): Promise<ConnectionState> {
    const token = extractRequestToken(request);
    if (!token) {
      throw this.refused(
        request,
        new HandshakeError(
          'AUTH_MISSING',
          'No token: send it as a Bearer header, ?token= or the authToken cookie',
        ),
      );
    }
    try {
      return await this.admitConnection(request, token);
    } catch (error) {
      throw this.refused(request, this.handshakeFailure(error));
    }
  }

  /** Says who was refused and why (never the token), for admins' event streams; answers the refusal. */
  private refused(request: IncomingMessage, refusal: HandshakeError): HandshakeError {
    const flooding = refusal.code === 'RATE_LIMITED';
    this.telemetry.handshakeRefused(refusal.code);
    this.serverEvents.emit({
      type: flooding ? 'security.rate_limit.exceeded' : 'authentication.login.failed',
      address: this.addresses.of(request),
      data: flooding ? { limit: 'handshake' } : { code: refusal.code },
    });
    return refusal;
  }

  private async authenticate(socket: Socket): Promise<void> {
    const token = extractHandshakeToken(socket.handshake);
    if (!token)
      throw new HandshakeError(
        'AUTH_MISSING',
        'No token: send it as auth.token, a Bearer header, ?token= or the authToken cookie',
      );
    const known = this.connections.get(socket.conn);
    let connection = known?.token === token ? known : undefined;
    if (!connection) {
      connection = await this.admitConnection(socket.request, token);
      this.connections.set(socket.conn, connection);
    }
    this.requireNamespaceRoles(socket.nsp.name, connection.identity.roles);
    attachConnection(socket, connection);
    // Before the socket connects, so that anything sent to the user reaches it from the start.
    await socket.join(userRoom(connection.identity.userId));
  }

  /** The first namespace of a connection runs the full check; its other namespaces reuse it. */
  private async admitConnection(request: IncomingMessage, token: string): Promise<ConnectionState> {
    this.pendingHandshakes += 1;
    try {
      const ipAddress = this.addresses.of(request);
      await this.consumeHandshakeAllowance(ipAddress);
      const connectionId = randomUUID();
      const admitted = await this.admitToken(token, connectionId);
      await this.enforceConnectionLimits(admitted.verified.userId);
      const { verified } = admitted;
      const connection: ConnectionState = {
        identity: {
          userId: verified.userId,
          sessionId: admitted.sessionId,
          connectionId,
          roles: verified.roles,
          expiresAt: verified.expiresAt,
        },
        token,
        carriedTokens: new Map([[admitted.fingerprint, verified.expiresAt]]),
        ipAddress,
        userAgent: headerText(request.headers['user-agent']),
        connectedAt: Date.now(),
        endpoints: new Set(),
      };
      return connection;
    } finally {
      this.pendingHandshakes -= 1;
    }
  }

  /** The token decision shared with HTTP; the session is the connection's own without a `sid`. */
  private async admitToken(token: string, connectionId: string): Promise<AdmittedToken<string>> {
    try {
      return await this.admission.admit(token, connectionId);
    } catch (error) {
      if (error instanceof AuthenticationFailure) throw new HandshakeError(error.code, error.message);
      throw error;
    }
  }

  private async consumeHandshakeAllowance(address: string): Promise<void> {
    if (!this.handshakeLimiter) return;
    try {
      await this.handshakeLimiter.consume(address);
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      throw new HandshakeError(
        'RATE_LIMITED',
        'Too many connection attempts from this address; retry in a minute',
      );
    }
  }

  private async enforceConnectionLimits(userId: string): Promise<void> {
    const { maxConnections, maxConnectionsPerUser, sessionPolicy } = this.config.limits;
    if (maxConnections > 0 && this.registry.localConnectionCount + this.pendingHandshakes > maxConnections) {
      throw new HandshakeError('CONNECTION_LIMIT', 'This server is full; retry later or elsewhere');
    }
    if (maxConnectionsPerUser > 0 && sessionPolicy === 'multi') {
      const open = await this.registry.countUserConnections(userId);
      if (open >= maxConnectionsPerUser) {
        throw new HandshakeError('CONNECTION_LIMIT', `At most ${maxConnectionsPerUser} connections per user`);
      }
    }
  }

  private requireNamespaceRoles(namespace: string, roles: readonly string[]): void {
    const required = this.rolesByNamespace.get(namespace);
    if (required && !hasAnyRole(roles, required)) {
      throw new HandshakeError('FORBIDDEN', `Namespace ${namespace} requires role ${required.join(' or ')}`);
    }
  }

  private handshakeFailure(error: unknown): HandshakeError {
    if (error instanceof HandshakeError) return error;
    this.failures.error('Handshake', error);
    return new HandshakeError('AUTH_INVALID', 'Authentication could not be completed');
  }

  /**
   * Every event passes here before any handler, `auth:refresh` included: the event rate, then
   * (except for a refresh, the way out of it) the token's expiry, then the payload's shape
   * (depth, prototype keys), which is refused before anything transforms it.
   */
  private gateEvent(socket: Socket, packet: unknown[], next: (error?: Error) => void): void {
    const [event] = packet;
    const ack = packet[packet.length - 1];
    if (this.exceedsEventRate(socket)) {
      answer(socket, ack, ackFailure({ code: 'RATE_LIMITED', message: 'Too many events; slow down' }));
      return;
    }
    if (event !== AuthEvent.Refresh && this.hasExpired(connectionOf(socket))) {
      const expired = {
        code: 'UNAUTHORIZED' as const,
        message: 'Token expired; send auth:refresh with a new token',
      };
      answer(socket, ack, ackFailure(expired));
      return;
    }
    const { maxPayloadDepth } = this.config.limits;
    for (const argument of packet) {
      const problem = payloadShapeProblem(argument, maxPayloadDepth);
      if (problem) {
        answer(
          socket,
          ack,
          ackFailure({ code: 'VALIDATION_FAILED', ...describeShapeProblem(problem, maxPayloadDepth) }),
        );
        return;
      }
    }
    next();
  }

  /** Fixed one-second window per socket; refused windows in a row make a flood that disconnects. */
  private exceedsEventRate(socket: Socket): boolean {
    if (this.config.limits.eventsPerSocketPerS === 0) return false;
    const verdict = this.countEvent(eventRateOf(socket));
    if (verdict === 'flood') this.closeFlooder(endpointOf(socket));
    return verdict !== 'allowed';
  }

  /**
   * Counts one event of an endpoint against `RATE_LIMIT_EVENTS_PER_S` in its window; a `flood`
   * (refused windows for `RATE_LIMIT_FLOOD_SECONDS` in a row) is the caller's to end with
   * `closeFlooder`.
   */
  countEvent(rate: EventRateWindow): EventRateVerdict {
    const { eventsPerSocketPerS, floodSeconds } = this.config.limits;
    return countEvent(rate, eventsPerSocketPerS, floodSeconds, Date.now());
  }

  /** Logs the flood, sends `rate_limited { reason: 'flood' }` and closes the endpoint. */
  closeFlooder(endpoint: ConnectionEndpoint): void {
    const { identity, ipAddress } = endpoint.connection;
    this.logger.warn(
      `security.rate_limit.exceeded: user ${identity.userId} connection ${identity.connectionId} from ${ipAddress} flooded ${endpoint.namespace}; disconnected`,
    );
    endpoint.emit(AuthEvent.RateLimited, envelope(AuthEvent.RateLimited, { reason: 'flood' }));
    this.serverEvents.emit({
      type: 'security.rate_limit.exceeded',
      address: ipAddress,
      data: { limit: 'events', namespace: endpoint.namespace },
    });
    setImmediate(() => endpoint.close('flood'));
  }

  /** Whether the connection's token has expired (its close may be a moment away). */
  hasExpired(connection: ConnectionState): boolean {
    return connection.identity.expiresAt <= this.clock.now();
  }

  /** `auth:refresh` takes one payload, validated like any gateway event's. */
  private async refresh(socket: Socket, payloads: unknown[]): Promise<AckResponse<RefreshResult>> {
    if (payloads.length !== 1) {
      return ackFailure(AppError.validation('auth:refresh takes one payload: { token }').toBody());
    }
    return this.refreshConnection(connectionOf(socket), payloads[0]);
  }

  /**
   * `auth:refresh` of a connection, on any door: `{ token }` validated like a gateway event's
   * payload, one refresh at a time per connection, and a token of the same user and session.
   */
  async refreshConnection(
    connection: ConnectionState,
    payload: unknown,
  ): Promise<AckResponse<RefreshResult>> {
    let request: RefreshRequestDto;
    try {
      request = (await this.validation.transform(payload, {
        type: 'body',
        metatype: RefreshRequestDto,
      })) as RefreshRequestDto;
    } catch (error) {
      if (error instanceof AppError) return ackFailure(error.toBody());
      throw error;
    }
    const { token } = request;
    if (this.refreshing.has(connection)) {
      return ackFailure({
        code: 'RATE_LIMITED',
        message: 'A refresh is already under way on this connection',
      });
    }
    this.refreshing.add(connection);
    try {
      return await this.replaceToken(connection, token);
    } finally {
      this.refreshing.delete(connection);
    }
  }

  /**
   * Hands the connection a new token, checked exactly as at a handshake. It must name the same
   * user and the same session: a refresh never moves a connection into another session, whose
   * revocation would then miss it.
   */
  private async replaceToken(
    connection: ConnectionState,
    token: string,
  ): Promise<AckResponse<RefreshResult>> {
    const { identity } = connection;
    let admitted: AdmittedToken<string>;
    try {
      admitted = await this.admission.admit(token, identity.connectionId);
    } catch (error) {
      if (!(error instanceof AuthenticationFailure)) throw error;
      return ackFailure(AppError.unauthenticated(error.code, error.message).toBody());
    }
    const { verified, sessionId, fingerprint } = admitted;
    if (verified.userId !== identity.userId) {
      return ackFailure({ code: 'FORBIDDEN', message: 'The new token belongs to another user' });
    }
    if (sessionId !== identity.sessionId) {
      return ackFailure({
        code: 'FORBIDDEN',
        message: 'The new token belongs to another session; connect again with it instead',
      });
    }
    connection.token = token;
    carryToken(connection, fingerprint, verified.expiresAt);
    identity.expiresAt = verified.expiresAt;
    identity.roles = verified.roles;
    this.expiries.schedule(connection, verified.expiresAt);
    this.registry.refresh(connection);
    const expiresAt = new Date(verified.expiresAt).toISOString();
    this.serverEvents.emit({
      type: 'authentication.token.refreshed',
      userId: identity.userId,
      sessionId: identity.sessionId,
      data: { connectionId: identity.connectionId, expiresAt },
    });
    return { ok: true, data: { expiresAt } };
  }

  /** Called by the schedule once `expiresAt` has passed (a refresh reschedules the connection). */
  private expire(connection: ConnectionState): void {
    const notice = envelope(AuthEvent.Expired, {
      reason: 'token expired',
      expiredAt: new Date(connection.identity.expiresAt).toISOString(),
    });
    for (const endpoint of connection.endpoints) endpoint.emit(AuthEvent.Expired, notice);
    for (const endpoint of [...connection.endpoints]) endpoint.close('expired');
    const { identity } = connection;
    this.serverEvents.emit({
      type: 'session.expired',
      userId: identity.userId,
      sessionId: identity.sessionId,
      data: { connectionId: identity.connectionId, expiredAt: notice.data.expiredAt },
    });
  }

  private replaceOlderConnections(connection: ConnectionState): void {
    const { userId, connectionId, sessionId } = connection.identity;
    this.serverEvents.emit({ type: 'session.replaced', userId, sessionId, data: { by: connectionId } });
    this.registry.disconnect({
      userId,
      exceptConnectionId: connectionId,
      reason: 'replaced',
      notice: {
        event: AuthEvent.Replaced,
        payload: envelope(AuthEvent.Replaced, { reason: 'replaced', by: connectionId }),
      },
    });
  }
}

function internalFailure(): AckResponse<never> {
  return ackFailure({ code: 'INTERNAL', message: 'Internal server error' });
}

/** Replies through the ack when there is one; a failure without an ack becomes `exception`. */
function answer(socket: Socket, ack: unknown, response: AckResponse<unknown>): void {
  if (typeof ack === 'function') (ack as (reply: unknown) => void)(response);
  else if (!response.ok) socket.emit('exception', response.error);
}

function headerText(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value.join(', ') : (value ?? '')).slice(0, 512);
}
