import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { ackFailure } from '../common/envelope.js';
import { mapError } from '../common/error-mapping.js';

/**
 * WebSocket errors in one shape: the ack receives `{ ok: false, error }`; without an ack the
 * same error object is emitted as `exception`. The connection stays open.
 */
@Catch()
export class WsExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const { body } = mapError(exception);
    const ack: unknown = host.getArgByIndex(2);
    if (typeof ack === 'function') {
      (ack as (response: unknown) => void)(ackFailure(body));
      return;
    }
    host.switchToWs().getClient<Socket>().emit('exception', body);
  }
}
