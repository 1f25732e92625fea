import type { Socket } from 'socket.io';
import type { Envelope } from '../common/envelope.js';

/** Who is on the other end of a socket, established at the handshake. */
export interface SocketIdentity {
  readonly userId: string;
  readonly sessionId: string;
  readonly connectionId: string;
  roles: string[];
  /** Epoch ms; moved forward by `auth:refresh`. */
  expiresAt: number;
}

/**
 * Why the server closes an endpoint: the token expired, the session was revoked (by its user or
 * an admin), a newer connection replaced it (`SESSION_POLICY=single`), it flooded events, or an
 * admin disconnected its user (who may connect again).
 */
export type CloseReason = 'expired' | 'revoked' | 'replaced' | 'flood' | 'disconnected';

/**
 * One transport endpoint of a connection, whatever its transport: a Socket.IO namespace socket
 * (`SocketEndpoint`, made once per socket) or a plain WebSocket (`/ws/events`). The registry
 * lists, kicks and revokes connections through it, and the expiry closes it.
 */
export interface ConnectionEndpoint {
  /** Unique among this instance's endpoints: a socket id, or a plain WebSocket's own. */
  readonly id: string;
  /** The Socket.IO namespace, or the plain WebSocket's path. */
  readonly namespace: string;
  readonly connection: ConnectionState;
  /** Sends a server notice (`auth:expired`, `auth:revoked`, …) framed as the transport frames it. */
  emit(event: string, notice: Envelope): void;
  /** Closes it, telling the client why as the transport can. */
  close(reason: CloseReason): void;
}

/**
 * State shared by every endpoint of one client connection (one Engine.IO connection and its
 * namespace sockets, or one plain WebSocket): the token's expiry and a refresh apply to all of
 * them at once.
 */
export interface ConnectionState {
  readonly identity: SocketIdentity;
  token: string;
  /**
   * Fingerprints (which name tokens in revocations without storing them) of every token this
   * connection has carried, the current one included, with each token's expiry in epoch ms. A
   * revoked session refuses all of them until they expire, not only the latest.
   */
  readonly carriedTokens: Map<string, number>;
  readonly ipAddress: string;
  readonly userAgent: string;
  readonly connectedAt: number;
  /** Its live endpoints; the registry adds and removes them (`register`, `unregister`). */
  readonly endpoints: Set<ConnectionEndpoint>;
}

export interface EventRateWindow {
  windowStartedAt: number;
  count: number;
  refusedInWindow: boolean;
  floodStreak: number;
}

export interface SocketData {
  connection: ConnectionState;
  endpoint: SocketEndpoint;
  rate: EventRateWindow;
}

/** A Socket.IO namespace socket as an endpoint of its connection; made once, when it connects. */
export class SocketEndpoint implements ConnectionEndpoint {
  readonly id: string;
  readonly namespace: string;

  constructor(
    readonly socket: Socket,
    readonly connection: ConnectionState,
  ) {
    this.id = socket.id;
    this.namespace = socket.nsp.name;
  }

  emit(event: string, notice: Envelope): void {
    this.socket.emit(event, notice);
  }

  close(): void {
    this.socket.disconnect(true);
  }
}

/** One live client connection as the cluster sees it. */
export interface ConnectionRecord {
  connectionId: string;
  sessionId: string;
  userId: string;
  roles: string[];
  instanceId: string;
  sockets: { socketId: string; namespace: string }[];
  connectedAt: string;
  expiresAt: string;
  /** Every unexpired token the connection has carried (see `ConnectionState.carriedTokens`). */
  tokenFingerprints: string[];
  /** The latest expiry among those tokens: how long a revocation of the session must hold. */
  tokensExpireAt: string;
  ipAddress: string;
  userAgent: string;
}

/**
 * `socket.data` as the handshake fills it. Socket.IO types it `any` on the sockets Nest hands
 * out, so it is typed here, once; everything else goes through the functions below.
 */
function dataOf(socket: Socket): Partial<SocketData> {
  return socket.data as Partial<SocketData>;
}

/** The connection of a socket that passed the handshake. */
export function connectionOf(socket: Socket): ConnectionState {
  const { connection } = dataOf(socket);
  if (!connection) throw new Error(`Socket ${socket.id} has not passed the handshake`);
  return connection;
}

export function identityOf(socket: Socket): SocketIdentity {
  return connectionOf(socket).identity;
}

/** Called by the handshake once the socket's connection is admitted. */
export function attachConnection(socket: Socket, connection: ConnectionState): void {
  dataOf(socket).connection = connection;
}

/** The endpoint of a socket that connected (made when it connects, after the handshake). */
export function endpointOf(socket: Socket): SocketEndpoint {
  const { endpoint } = dataOf(socket);
  if (!endpoint) throw new Error(`Socket ${socket.id} has not connected`);
  return endpoint;
}

/** Makes the endpoint of a socket that connected; called once, by the authenticator. */
export function attachEndpoint(socket: Socket, connection: ConnectionState): SocketEndpoint {
  const endpoint = new SocketEndpoint(socket, connection);
  dataOf(socket).endpoint = endpoint;
  return endpoint;
}

/** The socket's event-rate window, started on first use. */
export function eventRateOf(socket: Socket): EventRateWindow {
  const data = dataOf(socket);
  data.rate ??= newEventRateWindow();
  return data.rate;
}

export function newEventRateWindow(): EventRateWindow {
  return { windowStartedAt: 0, count: 0, refusedInWindow: false, floodStreak: 0 };
}

/** What one more event does to a rate window: it passes, it is refused, or it makes a flood. */
export type EventRateVerdict = 'allowed' | 'refused' | 'flood';

/**
 * Counts one event in a fixed one-second window: over `limit` in a window, it is refused; the
 * first refusal of a window that follows one with refusals lengthens the flood streak, and a
 * streak of `floodSeconds` windows makes a flood (the caller disconnects). A `limit` of 0
 * allows everything.
 */
export function countEvent(
  rate: EventRateWindow,
  limit: number,
  floodSeconds: number,
  now: number,
): EventRateVerdict {
  if (limit === 0) return 'allowed';
  if (now - rate.windowStartedAt >= 1000) {
    const consecutive = now - rate.windowStartedAt < 2000;
    rate.floodStreak = rate.refusedInWindow && consecutive ? rate.floodStreak : 0;
    rate.windowStartedAt = now;
    rate.count = 0;
    rate.refusedInWindow = false;
  }
  rate.count += 1;
  if (rate.count <= limit) return 'allowed';
  if (rate.refusedInWindow) return 'refused';
  rate.refusedInWindow = true;
  rate.floodStreak += 1;
  return rate.floodStreak >= floodSeconds ? 'flood' : 'refused';
}

/** Adds the connection's new token to those it carried, forgetting the ones that have expired. */
export function carryToken(
  connection: Pick<ConnectionState, 'carriedTokens'>,
  fingerprint: string,
  expiresAt: number,
): void {
  const now = Date.now();
  for (const [carried, until] of connection.carriedTokens) {
    if (until <= now) connection.carriedTokens.delete(carried);
  }
  connection.carriedTokens.set(fingerprint, expiresAt);
}
