import { applyDecorators, SetMetadata, UseFilters, UseInterceptors } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { AckInterceptor } from './ack.interceptor.js';
import { WsExceptionFilter } from './ws-exception.filter.js';
import { GATEWAY_NAMESPACE_KEY } from '../auth/auth.metadata.js';

/**
 * A Socket.IO gateway with the house rules: authenticated at the handshake, per-event role
 * checks (the app-wide `AccessGuard`), DTO validation (the app-wide validation pipe, which Nest
 * applies to gateways as to controllers), `{ ok, data | error }` acks and one error shape.
 *
 * No pipe of its own: Nest runs global pipes before a gateway's, so one here would validate
 * (and transform) every event a second time.
 */
export function RealtimeGateway(namespace: string): ClassDecorator {
  return applyDecorators(
    WebSocketGateway({ namespace }),
    SetMetadata(GATEWAY_NAMESPACE_KEY, namespace),
    UseInterceptors(AckInterceptor),
    UseFilters(WsExceptionFilter),
  );
}
