/*
 * The error codes of the wire, with no run-time dependency: the client contracts export them and a
 * browser bundle may import those.
 */

/** Error codes of a failed ack (`{ ok: false, error: { code, message, details? } }`). */
export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'PAYLOAD_TOO_LARGE',
  'INTERNAL',
  'SERVICE_UNAVAILABLE',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Why a request or a socket was not authenticated. A handshake refuses with it as the
 * `connect_error` code; REST and `auth:refresh` answer `UNAUTHORIZED` with it in `details.code`.
 */
export const AUTH_FAILURE_CODES = ['AUTH_MISSING', 'AUTH_INVALID', 'AUTH_EXPIRED', 'AUTH_REVOKED'] as const;
export type AuthFailureCode = (typeof AUTH_FAILURE_CODES)[number];

/** Reasons a handshake is refused, sent as the `connect_error` message. */
export const HANDSHAKE_ERROR_CODES = [
  ...AUTH_FAILURE_CODES,
  'FORBIDDEN',
  'RATE_LIMITED',
  'CONNECTION_LIMIT',
  /** A dependency (e.g. the database) could not be reached; retrying later may succeed. */
  'SERVICE_UNAVAILABLE',
] as const;
export type HandshakeErrorCode = (typeof HANDSHAKE_ERROR_CODES)[number];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
}
