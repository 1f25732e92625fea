import { HttpException, HttpStatus } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import { AppError, type ErrorBody, type ErrorCode, ERROR_CODES, HTTP_STATUS_BY_CODE } from './errors.js';
import { FailureLog } from './failure-log.js';

const CODE_BY_HTTP_STATUS: Partial<Record<number, ErrorCode>> = {
  [HttpStatus.BAD_REQUEST]: 'VALIDATION_FAILED',
  [HttpStatus.UNAUTHORIZED]: 'UNAUTHORIZED',
  [HttpStatus.FORBIDDEN]: 'FORBIDDEN',
  [HttpStatus.NOT_FOUND]: 'NOT_FOUND',
  [HttpStatus.CONFLICT]: 'CONFLICT',
  [HttpStatus.PAYLOAD_TOO_LARGE]: 'PAYLOAD_TOO_LARGE',
  [HttpStatus.TOO_MANY_REQUESTS]: 'RATE_LIMITED',
  [HttpStatus.SERVICE_UNAVAILABLE]: 'SERVICE_UNAVAILABLE',
};

export interface MappedError {
  status: number;
  body: ErrorBody;
}

const unexpected = new FailureLog('UnhandledError');

/**
 * Turns anything thrown by a handler into the wire error of either transport, by the type of
 * what was thrown, never by its wording:
 *
 * - `AppError`: its own code, message and details;
 * - `HttpException` (Nest's, and what Express's body parser threw, which Nest wraps: malformed
 *   JSON 400, a body over the limit 413): the code of its status;
 * - `WsException`: a `{ code, message, details? }` payload names its code; any other is a
 *   refusal of the event, `FORBIDDEN`. Nest raises one itself only when a guard returns `false`;
 * - anything else: logged with its stack, at a bounded rate, and `INTERNAL` for the client.
 */
export function mapError(error: unknown): MappedError {
  if (error instanceof AppError) {
    return { status: HTTP_STATUS_BY_CODE[error.code], body: error.toBody() };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const code = CODE_BY_HTTP_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'VALIDATION_FAILED');
    return { status, body: { code, message: httpMessage(error) } };
  }
  if (error instanceof WsException) {
    const body = wsBody(error.getError());
    return { status: HTTP_STATUS_BY_CODE[body.code], body };
  }
  unexpected.error('Unexpected error', error);
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    body: { code: 'INTERNAL', message: 'Internal server error' },
  };
}

function httpMessage(error: HttpException): string {
  const response = error.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : error.message;
}

function wsBody(payload: string | object): ErrorBody {
  if (typeof payload === 'string') return { code: 'FORBIDDEN', message: payload };
  const { code, message, details } = payload as Partial<Record<'code' | 'message' | 'details', unknown>>;
  return {
    code: isErrorCode(code) ? code : 'FORBIDDEN',
    message: typeof message === 'string' ? message : 'Not allowed',
    ...(details === undefined ? {} : { details }),
  };
}

function isErrorCode(value: unknown): value is ErrorCode {
  return (ERROR_CODES as readonly unknown[]).includes(value);
}
