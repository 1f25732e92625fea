import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { map, Observable } from 'rxjs';
import type { AckSuccess } from '../common/envelope.js';

/** A handler's return value becomes the ack `{ ok: true, data }`. */
@Injectable()
export class AckInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<AckSuccess<unknown>> {
    return next.handle().pipe(map((data: unknown) => ({ ok: true as const, data: data ?? null })));
  }
}
