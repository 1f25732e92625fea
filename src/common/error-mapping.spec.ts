import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  HttpStatus,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import { mapError } from './error-mapping.js';
import { AppError } from './errors.js';

describe('mapError', () => {
  it('keeps an AppError’s code, message and details', () => {
    expect(mapError(AppError.validation('Bad limit', [{ field: 'limit' }]))).toEqual({
      status: 400,
      body: { code: 'VALIDATION_FAILED', message: 'Bad limit', details: [{ field: 'limit' }] },
    });
    expect(mapError(AppError.notFound('Chat c1 not found'))).toEqual({
      status: 404,
      body: { code: 'NOT_FOUND', message: 'Chat c1 not found' },
    });
  });

  it('answers a refused credential UNAUTHORIZED with the handshake code in details, as auth:refresh does', () => {
    expect(
      mapError(AppError.unauthenticated('AUTH_EXPIRED', 'Token expired at 2030-01-01T00:00:00.000Z')),
    ).toEqual({
      status: 401,
      body: {
        code: 'UNAUTHORIZED',
        message: 'Token expired at 2030-01-01T00:00:00.000Z',
        details: { code: 'AUTH_EXPIRED' },
      },
    });
  });

  it.each([
    [new ForbiddenException(), 403, 'FORBIDDEN'],
    [new UnauthorizedException(), 401, 'UNAUTHORIZED'],
    [new NotFoundException('Cannot GET /nowhere'), 404, 'NOT_FOUND'],
    [
      new HttpException('Unsupported Media Type', HttpStatus.UNSUPPORTED_MEDIA_TYPE),
      415,
      'VALIDATION_FAILED',
    ],
    [new HttpException('Bad gateway', HttpStatus.BAD_GATEWAY), 502, 'INTERNAL'],
  ])('maps %p by its status', (exception, status, code) => {
    expect(mapError(exception)).toMatchObject({ status, body: { code } });
  });

  it('maps what the JSON body parser refused, as Nest hands it on', () => {
    const malformed = new BadRequestException('Unexpected end of JSON input', {
      cause: Object.assign(new SyntaxError('Unexpected end of JSON input'), { status: 400 }),
    });
    const tooLarge = new HttpException('request entity too large', HttpStatus.PAYLOAD_TOO_LARGE);

    expect(mapError(malformed)).toEqual({
      status: 400,
      body: { code: 'VALIDATION_FAILED', message: 'Unexpected end of JSON input' },
    });
    expect(mapError(tooLarge)).toEqual({
      status: 413,
      body: { code: 'PAYLOAD_TOO_LARGE', message: 'request entity too large' },
    });
  });

  it('answers FORBIDDEN for the WsException Nest raises when a guard returns false, whatever its text', () => {
    expect(mapError(new WsException('Forbidden resource')).body).toEqual({
      code: 'FORBIDDEN',
      message: 'Forbidden resource',
    });
    expect(mapError(new WsException('Accès refusé')).body.code).toBe('FORBIDDEN');
  });

  it('takes the code a WsException payload names, if it is one of the ack codes', () => {
    expect(
      mapError(new WsException({ code: 'NOT_FOUND', message: 'No such room', details: { room: 'r1' } })),
    ).toEqual({ status: 404, body: { code: 'NOT_FOUND', message: 'No such room', details: { room: 'r1' } } });
    expect(mapError(new WsException({ code: 'TEAPOT', message: 'Short and stout' })).body).toEqual({
      code: 'FORBIDDEN',
      message: 'Short and stout',
    });
  });

  it('answers anything else INTERNAL without its message', () => {
    expect(mapError(new Error('connection string postgres://secret@db'))).toEqual({
      status: 500,
      body: { code: 'INTERNAL', message: 'Internal server error' },
    });
  });
});
