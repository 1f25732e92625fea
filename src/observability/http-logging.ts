import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Principal } from '../auth/principal.js';
import { scrubUrl } from './redaction.js';

type LoggedRequest = Request & { user?: Principal };

/** The fields of a request's line: never a header, and the query without its credentials. */
function requestFields(request: LoggedRequest, response: Response, durationMs: number) {
  return {
    method: request.method,
    path: scrubUrl(request.originalUrl ?? request.url),
    status: response.statusCode,
    durationMs,
    ...(request.user?.userId === undefined ? {} : { userId: request.user.userId }),
    address: request.ip,
  };
}

function summary(request: LoggedRequest, response: Response): string {
  return `${request.method} ${scrubUrl(request.originalUrl ?? request.url)} ${response.statusCode}`;
}

/**
 * One line per HTTP request, written when its response finished (or the client went away):
 * method, path (credentials in the query replaced), status, duration, the user once the token
 * was verified, the client address. 5xx answers log at `error`, the rest at `info`. Socket.IO's
 * own requests (`/socket.io/`) and WebSocket upgrades do not pass here: their connections log
 * when they open and close.
 */
export function httpLogging(logger: Logger): RequestHandler {
  return pinoHttp<LoggedRequest, Response>({
    logger: logger.child({ context: 'HTTP' }),
    quietReqLogger: true,
    quietResLogger: true,
    customAttributeKeys: { reqId: 'requestId' },
    genReqId: () => randomUUID(),
    customLogLevel: (_request, response, error) =>
      error !== undefined || response.statusCode >= 500 ? 'error' : 'info',
    customSuccessObject: (request, response, value: { responseTime: number }) =>
      requestFields(request, response, value.responseTime),
    customErrorObject: (request, response, _error, value: { responseTime: number }) =>
      requestFields(request, response, value.responseTime),
    customSuccessMessage: summary,
    customErrorMessage: summary,
  }) as RequestHandler;
}
