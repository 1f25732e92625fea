/** Events of the `/` namespace. */
export const SessionsEvent = {
  /** client → server (ack) and server → client when the cluster-wide count changes. */
  Count: 'sessions:count',
  /** client → server (admin, ack) `{ page?, limit? }`. */
  List: 'sessions:list',
  /** client → server (ack) → `{ pong }`. */
  Ping: 'ping',
} as const;

export interface SessionsCountPayload {
  activeSessionsCount: number;
}

/** Server → client events of `/` and their `data`. */
export interface SessionsServerPayloads {
  [SessionsEvent.Count]: SessionsCountPayload;
}

/** A live session as listed: one client connection and the namespaces it joined. */
export interface SessionView {
  id: string;
  userId: string;
  connectionId: string;
  instanceId: string;
  namespaces: string[];
  connectedAt: string;
  expiresAt: string;
  userAgent: string;
  ipAddress: string;
}

export interface SessionsListResult {
  sessions: SessionView[];
  totalCount: number;
}

export interface PongPayload {
  pong: string;
}
