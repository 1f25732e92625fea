import { STATUS_CODES } from 'node:http';
import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { mapError } from './error-mapping.js';

/**
 * REST failures in one shape: `{ statusCode, error, code, message, details? }`, where `code` is
 * what a socket's failed ack would say for the same failure (`UNAUTHORIZED` with the handshake
 * reason in `details.code` for a refused token). Registered app-wide, so it also answers what
 * happened before any route ran: the body parser's refusals, unknown routes.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const { status, body } = mapError(exception);
    const response = host.switchToHttp().getResponse<Response>();
    response.status(status).json({
      statusCode: status,
      error: STATUS_CODES[status] ?? 'Error',
      code: body.code,
      message: body.message,
      ...(body.details === undefined ? {} : { details: body.details }),
    });
  }
}
