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
  /** Names the token in revocations without storing the token itself. */
  tokenFingerprint: string;
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

/** A socket that passed the handshake. */
export type AuthenticatedSocket = Socket<
  Record<string, never>,
  Record<string, never>,
  Record<string, never>,
  SocketData
>;

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
  tokenFingerprint: string;
  ipAddress: string;
  userAgent: string;
}

export function identityOf(socket: Socket): SocketIdentity {
  return (socket.data as SocketData).connection.identity;
}

export function connectionOf(socket: Socket): ConnectionState {
  return (socket.data as SocketData).connection;
}
