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
} as const;

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
