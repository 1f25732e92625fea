import { applyDecorators, SetMetadata, UseFilters, UseInterceptors, UsePipes } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { AckInterceptor } from './ack.interceptor.js';
import { createValidationPipe } from '../common/validation.js';
import { WsExceptionFilter } from './ws-exception.filter.js';
import { GATEWAY_NAMESPACE_KEY } from '../auth/auth.metadata.js';

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
