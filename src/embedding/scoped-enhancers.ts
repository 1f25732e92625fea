import {
  type ArgumentMetadata,
  type ArgumentsHost,
  Catch,
  type ExecutionContext,
  Injectable,
  type OnModuleInit,
  type PipeTransform,
  type Type,
} from '@nestjs/common';
import { BaseExceptionFilter, DiscoveryService, Reflector } from '@nestjs/core';
import { AccessGuard } from '../auth/access.guard.js';
import { AppError } from '../common/errors.js';
import { HttpExceptionFilter } from '../common/http-exception.filter.js';
import { RestRateLimits } from '../common/rest-rate-limits.js';
import { createValidationPipe } from '../common/validation.js';
import { SwitchboardScope } from './switchboard-scope.js';

/**
 * The app-wide access guard of an embedded Switchboard: its own routes and gateways always,
 * the host's only with `globalGuard` (a host route may still opt in with `@UseGuards(AccessGuard)`).
 */
@Injectable()
export class ScopedAccessGuard extends AccessGuard {
  constructor(
    reflector: Reflector,
    limits: RestRateLimits,
    private readonly scope: SwitchboardScope,
  ) {
    super(reflector, limits);
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const target = context.getClass();
    if (!this.scope.guards(target)) return true;
    if (context.getType() === 'http' && this.scope.owns(target)) {
      this.scope.markRequest(context.switchToHttp().getRequest<object>());
    }
    return super.canActivate(context);
  }
}

/** The validation pipe, for Switchboard's DTOs only: the host's parameters are its own business. */
export class ScopedValidationPipe implements PipeTransform {
  private readonly pipe = createValidationPipe();

  constructor(private readonly scope: SwitchboardScope) {}

  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    return this.scope.validates(metadata.metatype) ? this.pipe.transform(value, metadata) : value;
  }
}

/**
 * Switchboard's error shape for its own routes and for its `AppError`s wherever they are thrown (a
 * host route calling `ChatService`, say); anything else is answered as Nest answers it by default.
 * A host's own global filters are tried before this one.
 */
@Catch()
export class ScopedExceptionFilter extends BaseExceptionFilter {
  private readonly switchboard = new HttpExceptionFilter();

  constructor(private readonly scope: SwitchboardScope) {
    super();
  }

  override catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() === 'http') {
      const request = host.switchToHttp().getRequest<object>();
      if (exception instanceof AppError || this.scope.isSwitchboardRequest(request)) {
        this.switchboard.catch(exception, host);
        return;
      }
    }
    super.catch(exception, host);
  }
}

/** Finds the host's `@RealtimeGateway` classes at start-up, so that their events are validated. */
@Injectable()
export class RealtimeGatewayDiscovery implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scope: SwitchboardScope,
  ) {}

  onModuleInit(): void {
    this.scope.adoptGateways(
      this.discovery
        .getProviders()
        .map((wrapper) => wrapper.metatype)
        .filter((type): type is Type => typeof type === 'function'),
    );
  }
}
