import { HttpStatus } from '@nestjs/common';
import type { AuthFailureCode, ErrorBody, ErrorCode, HandshakeErrorCode } from './error-codes.js';

export * from './error-codes.js';

export const HTTP_STATUS_BY_CODE: Record<ErrorCode, HttpStatus> = {
  VALIDATION_FAILED: HttpStatus.BAD_REQUEST,
  UNAUTHORIZED: HttpStatus.UNAUTHORIZED,
  FORBIDDEN: HttpStatus.FORBIDDEN,
  NOT_FOUND: HttpStatus.NOT_FOUND,
  CONFLICT: HttpStatus.CONFLICT,
  RATE_LIMITED: HttpStatus.TOO_MANY_REQUESTS,
  PAYLOAD_TOO_LARGE: HttpStatus.PAYLOAD_TOO_LARGE,
  INTERNAL: HttpStatus.INTERNAL_SERVER_ERROR,
  SERVICE_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
};

/**
 * The one error type services throw. Both transports map it: HTTP to a status and
 * `{ statusCode, error, code, message, details? }`, WebSocket to a failed ack.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }

  static validation(message: string, details?: unknown): AppError {
    return new AppError('VALIDATION_FAILED', message, details);
  }
  static unauthorized(message = 'Authentication required'): AppError {
    return new AppError('UNAUTHORIZED', message);
  }
  /** A refused credential, in the shape `auth:refresh` answers: the reason in `details.code`. */
  static unauthenticated(reason: AuthFailureCode, message: string): AppError {
    return new AppError('UNAUTHORIZED', message, { code: reason });
  }
  static forbidden(message = 'Not allowed'): AppError {
    return new AppError('FORBIDDEN', message);
  }
  static notFound(message: string): AppError {
    return new AppError('NOT_FOUND', message);
  }
  static conflict(message: string): AppError {
    return new AppError('CONFLICT', message);
  }
  static rateLimited(message = 'Too many requests'): AppError {
    return new AppError('RATE_LIMITED', message);
  }
  static unavailable(message: string): AppError {
    return new AppError('SERVICE_UNAVAILABLE', message);
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** A refused handshake; the adapter turns it into `connect_error` with `{ code, message }` data. */
export class HandshakeError extends Error {
  readonly data: { code: HandshakeErrorCode; message: string };

  constructor(
    readonly code: HandshakeErrorCode,
    readonly description: string,
  ) {
    super(code);
    this.name = 'HandshakeError';
    this.data = { code, message: description };
  }
}
