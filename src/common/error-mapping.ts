import { HttpException, HttpStatus } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import { AppError, type ErrorBody, type ErrorCode, HTTP_STATUS_BY_CODE } from './errors.js';
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
 * Turns anything thrown by a handler into the wire error of either transport. Unknown
 * errors are logged with their stack, at a bounded rate, and reach the client only as `INTERNAL`.
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
    const message = error.getError();
    if (message === 'Forbidden resource') {
      return { status: HttpStatus.FORBIDDEN, body: { code: 'FORBIDDEN', message: 'Not allowed' } };
    }
    return {
      status: HttpStatus.BAD_REQUEST,
      body: { code: 'VALIDATION_FAILED', message: typeof message === 'string' ? message : 'Bad request' },
    };
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
