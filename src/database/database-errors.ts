import { AppError } from '../common/errors.js';

/** Socket-level failures raised by Node while reaching a database server. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL SQLSTATEs meaning the server cannot serve us right now: class 08 (connection
 * exception), 53300 (too many connections), 57P01..57P03 (shutting down, crashed, starting up).
 */
const POSTGRES_UNAVAILABLE_STATE = /^(08...|53300|57P0[123])$/;

/** SQLite result codes (extended ones included) for a database file that cannot be used. */
const SQLITE_UNAVAILABLE_CODE = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|READONLY)(_|$)/;

/** node-postgres and pg-pool report lost or impossible connections with messages, not codes. */
const POSTGRES_CLIENT_FAILURE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'is not queryable',
];

/**
 * Whether `error` means the database cannot be reached or used, rather than a bad query.
 * Errors are read by shape: `instanceof Error` fails for errors from another realm, such as
 * Node's socket errors seen from a test VM.
 */
export function isDatabaseUnavailableError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, errors } = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (Array.isArray(errors) && errors.some(isDatabaseUnavailableError)) return true;
  if (typeof code === 'string') {
    return (
      NETWORK_ERROR_CODES.has(code) ||
      POSTGRES_UNAVAILABLE_STATE.test(code) ||
      SQLITE_UNAVAILABLE_CODE.test(code)
    );
  }
  return (
    typeof message === 'string' &&
    POSTGRES_CLIENT_FAILURE_MESSAGES.some((fragment) => message.includes(fragment))
  );
}

/**
 * Turns a driver failure to reach the database into `AppError.unavailable`, keeping the driver
 * error as `cause` for the logs, so callers see a clear 503 instead of an internal error.
 * Any other error is returned unchanged.
 */
export function translateDatabaseError(error: unknown): unknown {
  if (error instanceof AppError || !isDatabaseUnavailableError(error)) return error;
  const unavailable = AppError.unavailable('Database unavailable');
  unavailable.cause = error;
  return unavailable;
}
