/** Events of the authentication layer, on every namespace. */
export const AuthEvent = {
  /** server → client, right after connecting. */
  Authenticated: 'authenticated',
  /** server → client, when the token's `exp` passes; the connection then closes. */
  Expired: 'auth:expired',
  /** client → server `{ token }`, ack `{ expiresAt }`: moves the expiry of the whole connection. */
  Refresh: 'auth:refresh',
  /** server → client, before a revoked session's sockets are closed. */
  Revoked: 'auth:revoked',
  /** server → client, when a newer connection of the user replaced this one (SESSION_POLICY=single). */
  Replaced: 'session:replaced',
  /** server → client, before a flooding socket is closed. */
  RateLimited: 'rate_limited',
  /** client → server on `/`, ack → who the connection is (`Whoami`). */
  Whoami: 'auth:whoami',
} as const;

/** `auth:whoami` and `GET /api/auth/me`: the caller as the server sees it. */
export interface Whoami {
  userId: string;
  roles: string[];
  /** Absent over HTTP for a token without a `sid` claim. */
  sessionId?: string;
  /** Sockets only. */
  connectionId?: string;
  /** ISO-8601. */
  expiresAt: string;
  /** HTTP only: the verified claims the server used. */
  claims?: Record<string, unknown>;
}

/** `POST /api/auth/logout`. */
export interface LogoutRequest {
  /** Every session of the user, not only this one. */
  everywhere?: boolean;
}

export interface LogoutResult {
  /** The sessions revoked; their connections close on every instance. */
  sessionIds: string[];
}

/** `POST /api/auth/dev-token` (development server, loopback callers only). */
export interface DevTokenRequest {
  sub: string;
  roles?: string[];
  /** Seconds, or a duration such as `'15m'`, `'1h'`. */
  ttl?: string | number;
}

export interface AuthenticatedPayload {
  userId: string;
  sessionId: string;
  connectionId: string;
  roles: string[];
  expiresAt: string;
}

export interface AuthExpiredPayload {
  reason: string;
  expiredAt: string;
}

export interface RefreshRequest {
  token: string;
}

export interface RefreshResult {
  expiresAt: string;
}

export interface DisconnectNotice {
  reason: string;
  by?: string;
}
