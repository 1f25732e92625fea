import { applyDecorators, SetMetadata, UseFilters, UseInterceptors, UsePipes } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { AckInterceptor } from '../realtime/ack.interceptor.js';
import { createValidationPipe } from '../realtime/validation.js';
import { WsExceptionFilter } from '../realtime/ws-exception.filter.js';
import { GATEWAY_NAMESPACE_KEY } from './auth.metadata.js';

/**
 * A Socket.IO gateway with the house rules: authenticated at the handshake, per-event role
 * checks (the app-wide `AccessGuard`), DTO validation, `{ ok, data | error }` acks and one error shape.
 */
export function RealtimeGateway(namespace: string): ClassDecorator {
  return applyDecorators(
    WebSocketGateway({ namespace }),
    SetMetadata(GATEWAY_NAMESPACE_KEY, namespace),
    UsePipes(createValidationPipe()),
    UseInterceptors(AckInterceptor),
    UseFilters(WsExceptionFilter),
  );
}
