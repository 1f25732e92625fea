import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Socket } from 'socket.io';
import { AppConfig } from '../config/app-config.js';
import { RedisService } from '../redis/redis.service.js';
import { ConnectionRegistry } from '../realtime/connection-registry.js';
import { connectionOf, type ConnectionState, type SocketData } from '../realtime/connection.types.js';
import { ackFailure, envelope, type AckResponse } from '../realtime/envelope.js';
import { HandshakeError } from '../realtime/errors.js';
import type { SocketHooks } from '../realtime/realtime-io.adapter.js';
import { GATEWAY_NAMESPACE_KEY, ROLES_KEY } from './auth.metadata.js';
import { AuthEvent, type RefreshResult } from './auth.events.js';
import { ExpirySchedule } from './expiry-schedule.js';
import { RevocationStore, tokenFingerprint } from './revocation.store.js';
import { hasAnyRole } from './roles.js';
import { extractHandshakeToken } from './token-extractor.js';
import { TokenVerificationError, TokenVerifier, type VerifiedToken } from './token-verifier.js';

const MAX_REFRESH_TOKEN_LENGTH = 16 * 1024;

/**
 * Authentication of live sockets, on every namespace: the handshake middleware that refuses
 * with a precise `connect_error`, connection and per-user limits, expiry at `exp` with
 * `auth:expired`, `auth:refresh`, and the per-socket gate that refuses events after expiry
 * or over the rate limit before they reach a gateway.
 */
@Injectable()
export class SocketAuthenticator implements OnModuleInit, OnApplicationShutdown, SocketHooks {
  private readonly logger = new Logger(SocketAuthenticator.name);
  private readonly connections = new WeakMap<object, ConnectionState>();
  private readonly rolesByNamespace = new Map<string, string[]>();
  private readonly expiries = new ExpirySchedule<ConnectionState>((connection) => this.expire(connection));
  private readonly handshakeLimiter: RateLimiterAbstract | null;
  private pendingHandshakes = 0;

  constructor(
    private readonly config: AppConfig,
    private readonly verifier: TokenVerifier,
    private readonly revocations: RevocationStore,
    private readonly registry: ConnectionRegistry,
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
    redis: RedisService,
  ) {
    this.handshakeLimiter = createHandshakeLimiter(config, redis);
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
      (error: unknown) => next(this.handshakeFailure(error)),
    );
  };

  readonly onConnection = (socket: Socket): void => {
    const connection = connectionOf(socket);
    const isFirstSocket = connection.sockets.size === 0;
    connection.sockets.add(socket);
    (socket.data as SocketData).rate = {
      windowStartedAt: 0,
      count: 0,
      refusedInWindow: false,
      floodStreak: 0,
    };
    socket.use((packet, next) => this.gateEvent(socket, packet, next));
    socket.on(AuthEvent.Refresh, (payload: unknown, ack?: unknown) => {
      void this.refresh(socket, payload).then((response) => answer(socket, ack, response));
    });
    socket.once('disconnect', () => {
      connection.sockets.delete(socket);
      this.registry.unregister(socket);
      if (connection.sockets.size === 0) this.expiries.cancel(connection);
    });
    this.registry.register(socket);
    if (isFirstSocket) {
      this.expiries.schedule(connection, connection.identity.expiresAt);
      if (this.config.limits.sessionPolicy === 'single') this.replaceOlderConnections(connection);
    }
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
  };

  private async authenticate(socket: Socket): Promise<void> {
    const token = extractHandshakeToken(socket.handshake);
    if (!token)
      throw new HandshakeError(
        'AUTH_MISSING',
        'No token: send it as auth.token, a Bearer header, ?token= or the authToken cookie',
      );
    const known = this.connections.get(socket.conn);
    const connection = known?.token === token ? known : await this.admitConnection(socket, token);
    this.requireNamespaceRoles(socket.nsp.name, connection.identity.roles);
    (socket.data as Partial<SocketData>).connection = connection;
  }

  /** The first namespace of a connection runs the full check; its other namespaces reuse it. */
  private async admitConnection(socket: Socket, token: string): Promise<ConnectionState> {
    this.pendingHandshakes += 1;
    try {
      const ipAddress = this.clientAddress(socket);
      await this.consumeHandshakeAllowance(ipAddress);
      const verified = await this.verify(token);
      const connectionId = randomUUID();
      const sessionId = verified.sessionId ?? connectionId;
      const fingerprint = tokenFingerprint(token);
      if (await this.revocations.isRevoked({ sessionId, tokenFingerprints: [fingerprint] })) {
        throw new HandshakeError('AUTH_REVOKED', 'This session was revoked');
      }
      await this.enforceConnectionLimits(verified.userId);
      const connection: ConnectionState = {
        identity: {
          userId: verified.userId,
          sessionId,
          connectionId,
          roles: verified.roles,
          expiresAt: verified.expiresAt,
        },
        token,
        tokenFingerprint: fingerprint,
        ipAddress,
        userAgent: headerText(socket.handshake.headers['user-agent']),
        connectedAt: Date.now(),
        sockets: new Set(),
      };
      this.connections.set(socket.conn, connection);
      return connection;
    } finally {
      this.pendingHandshakes -= 1;
    }
  }

  private clientAddress(socket: Socket): string {
    if (!this.config.server.trustProxy) return socket.handshake.address;
    const forwarded = headerText(socket.handshake.headers['x-forwarded-for']).split(',')[0]?.trim();
    return forwarded || socket.handshake.address;
  }

  private async verify(token: string): Promise<VerifiedToken> {
    try {
      return await this.verifier.verify(token);
    } catch (error) {
      if (error instanceof TokenVerificationError) throw new HandshakeError(error.code, error.message);
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
    this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return new HandshakeError('AUTH_INVALID', 'Authentication could not be completed');
  }

  private gateEvent(socket: Socket, packet: unknown[], next: (error?: Error) => void): void {
    const [event] = packet;
    if (event === AuthEvent.Refresh) {
      next();
      return;
    }
    const { identity } = connectionOf(socket);
    if (identity.expiresAt <= Date.now()) {
      const expired = {
        code: 'UNAUTHORIZED' as const,
        message: 'Token expired; send auth:refresh with a new token',
      };
      answer(socket, packet[packet.length - 1], ackFailure(expired));
      return;
    }
    if (this.exceedsEventRate(socket)) {
      answer(
        socket,
        packet[packet.length - 1],
        ackFailure({ code: 'RATE_LIMITED', message: 'Too many events; slow down' }),
      );
      return;
    }
    next();
  }

  /** Fixed one-second window per socket; refused windows in a row make a flood that disconnects. */
  private exceedsEventRate(socket: Socket): boolean {
    const limit = this.config.limits.eventsPerSocketPerS;
    if (limit === 0) return false;
    const rate = (socket.data as SocketData).rate;
    const now = Date.now();
    if (now - rate.windowStartedAt >= 1000) {
      const consecutive = now - rate.windowStartedAt < 2000;
      rate.floodStreak = rate.refusedInWindow && consecutive ? rate.floodStreak : 0;
      rate.windowStartedAt = now;
      rate.count = 0;
      rate.refusedInWindow = false;
    }
    rate.count += 1;
    if (rate.count <= limit) return false;
    if (!rate.refusedInWindow) {
      rate.refusedInWindow = true;
      rate.floodStreak += 1;
      if (rate.floodStreak >= this.config.limits.floodSeconds) this.disconnectFlooder(socket);
    }
    return true;
  }

  private disconnectFlooder(socket: Socket): void {
    const { identity, ipAddress } = connectionOf(socket);
    this.logger.warn(
      `security.rate_limit.exceeded: user ${identity.userId} connection ${identity.connectionId} from ${ipAddress} flooded ${socket.nsp.name}; disconnected`,
    );
    socket.emit(AuthEvent.RateLimited, envelope(AuthEvent.RateLimited, { reason: 'flood' }));
    setImmediate(() => socket.disconnect(true));
  }

  private async refresh(socket: Socket, payload: unknown): Promise<AckResponse<RefreshResult>> {
    const token = (payload as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_REFRESH_TOKEN_LENGTH) {
      const problem = `token must be a non-empty string of at most ${MAX_REFRESH_TOKEN_LENGTH} characters`;
      return ackFailure({
        code: 'VALIDATION_FAILED',
        message: problem,
        details: [{ field: 'token', problems: [problem] }],
      });
    }
    const connection = connectionOf(socket);
    let verified: VerifiedToken;
    try {
      verified = await this.verifier.verify(token);
    } catch (error) {
      if (error instanceof TokenVerificationError) {
        return ackFailure({ code: 'UNAUTHORIZED', message: `${error.code}: ${error.message}` });
      }
      this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      return ackFailure({ code: 'INTERNAL', message: 'Internal server error' });
    }
    if (verified.userId !== connection.identity.userId) {
      return ackFailure({ code: 'FORBIDDEN', message: 'The new token belongs to another user' });
    }
    const fingerprint = tokenFingerprint(token);
    if (
      await this.revocations.isRevoked({
        sessionId: connection.identity.sessionId,
        tokenFingerprints: [fingerprint],
      })
    ) {
      return ackFailure({ code: 'UNAUTHORIZED', message: 'AUTH_REVOKED: this session was revoked' });
    }
    connection.token = token;
    connection.tokenFingerprint = fingerprint;
    connection.identity.expiresAt = verified.expiresAt;
    connection.identity.roles = verified.roles;
    this.connections.set(socket.conn, connection);
    this.expiries.schedule(connection, verified.expiresAt);
    this.registry.refresh(connection);
    return { ok: true, data: { expiresAt: new Date(verified.expiresAt).toISOString() } };
  }

  /** Called by the schedule once `expiresAt` has passed (a refresh reschedules the connection). */
  private expire(connection: ConnectionState): void {
    const notice = envelope(AuthEvent.Expired, {
      reason: 'token expired',
      expiredAt: new Date(connection.identity.expiresAt).toISOString(),
    });
    for (const socket of connection.sockets) socket.emit(AuthEvent.Expired, notice);
    for (const socket of [...connection.sockets]) socket.disconnect(true);
  }

  private replaceOlderConnections(connection: ConnectionState): void {
    const { userId, connectionId } = connection.identity;
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

/** Replies through the ack when there is one; a failure without an ack becomes `exception`. */
function answer(socket: Socket, ack: unknown, response: AckResponse<unknown>): void {
  if (typeof ack === 'function') (ack as (reply: unknown) => void)(response);
  else if (!response.ok) socket.emit('exception', response.error);
}

function headerText(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value.join(', ') : (value ?? '')).slice(0, 512);
}

function createHandshakeLimiter(config: AppConfig, redis: RedisService): RateLimiterAbstract | null {
  const points = config.limits.handshakesPerIpPerMin;
  if (points === 0) return null;
  const options = { points, duration: 60, keyPrefix: 'handshake' };
  if (!redis.enabled) return new RateLimiterMemory(options);
  return new RateLimiterRedis({
    ...options,
    storeClient: redis.client,
    keyPrefix: `${redis.keyPrefix}ratelimit:handshake`,
    insuranceLimiter: new RateLimiterMemory(options),
  });
}
