import type { Socket } from 'socket.io';

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
 * State shared by every namespace socket of one client connection (one Engine.IO connection):
 * the token's expiry and a refresh apply to all of them at once.
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
  readonly sockets: Set<Socket>;
}

export interface EventRateWindow {
  windowStartedAt: number;
  count: number;
  refusedInWindow: boolean;
  floodStreak: number;
}

export interface SocketData {
  connection: ConnectionState;
  rate: EventRateWindow;
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

/** The socket's event-rate window, started on first use. */
export function eventRateOf(socket: Socket): EventRateWindow {
  const data = dataOf(socket);
  data.rate ??= { windowStartedAt: 0, count: 0, refusedInWindow: false, floodStreak: 0 };
  return data.rate;
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
