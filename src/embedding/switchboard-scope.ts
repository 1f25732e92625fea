import type { DynamicModule, Type } from '@nestjs/common';
import { GATEWAY_NAMESPACE_KEY } from '../auth/auth.metadata.js';

/** Parameter types that are not DTOs: the validation pipe leaves them to their owners. */
const NOT_DTOS = new Set<unknown>([
  String,
  Number,
  Boolean,
  Object,
  Array,
  Function,
  Promise,
  Symbol,
  BigInt,
]);

/** Requests that reached one of Switchboard's routes: their failures get its error shape. */
const switchboardRequests = new WeakSet<object>();

/**
 * What Switchboard's app-wide enhancers (the access guard, the validation pipe, the error filter,
 * the REST limits) cover. App-wide (the standalone server, where every module is Switchboard's):
 * everything. Embedded in a host application: Switchboard's own controllers and gateways, the
 * host's gateways declared with `@RealtimeGateway` (which promise the house rules), and, with
 * `globalGuard`, the access guard over every route of the host too.
 */
export class SwitchboardScope {
  private readonly classes: Set<Type>;
  private readonly dtos = new Set<Type>();
  /** Switchboard's own controllers, which the REST limits are applied to when not app-wide. */
  readonly controllers: Type[];

  constructor(
    /** Every route and gateway is Switchboard's: the enhancers are app-wide. */
    readonly appWide: boolean,
    /** The access guard covers the host's routes and gateways too. */
    readonly globalGuard: boolean,
    modules: ReadonlyArray<Type | DynamicModule>,
  ) {
    this.controllers = modules.flatMap((module) => declared(module, 'controllers'));
    this.classes = new Set([
      ...this.controllers,
      ...modules.flatMap((module) => declared(module, 'providers')),
    ]);
    for (const owned of this.classes) this.addDtosOf(owned);
  }

  /** Whether the access guard checks this controller's or gateway's requests and events. */
  guards(target: Type): boolean {
    return this.appWide || this.globalGuard || this.owns(target);
  }

  /** Whether the controller or gateway is Switchboard's, or a host's `@RealtimeGateway`. */
  owns(target: Type): boolean {
    return this.classes.has(target) || isRealtimeGateway(target);
  }

  /** Whether the validation pipe validates a parameter of this type. */
  validates(type: unknown): boolean {
    return this.appWide || (typeof type === 'function' && this.dtos.has(type as Type));
  }

  /** A host's `@RealtimeGateway` classes, found at start-up: their events are validated too. */
  adoptGateways(types: Iterable<Type>): void {
    for (const type of types) {
      if (isRealtimeGateway(type)) this.addDtosOf(type);
    }
  }

  markRequest(request: object): void {
    switchboardRequests.add(request);
  }

  isSwitchboardRequest(request: object): boolean {
    return this.appWide || switchboardRequests.has(request);
  }

  private addDtosOf(type: Type): void {
    const prototype = type.prototype as object | undefined;
    if (!prototype) return;
    for (const key of Object.getOwnPropertyNames(prototype)) {
      const parameters = Reflect.getMetadata('design:paramtypes', prototype, key) as unknown[] | undefined;
      for (const parameter of parameters ?? []) {
        if (typeof parameter === 'function' && !NOT_DTOS.has(parameter)) this.dtos.add(parameter as Type);
      }
    }
  }
}

function isRealtimeGateway(target: Type): boolean {
  return Reflect.getMetadata(GATEWAY_NAMESPACE_KEY, target) !== undefined;
}

/** A module's own controllers or provider classes, as declared (static metadata or dynamic). */
function declared(module: Type | DynamicModule, kind: 'controllers' | 'providers'): Type[] {
  const entries: unknown[] =
    'module' in module
      ? [
          ...((Reflect.getMetadata(kind, module.module) as unknown[] | undefined) ?? []),
          ...((module[kind] as unknown[] | undefined) ?? []),
        ]
      : ((Reflect.getMetadata(kind, module) as unknown[] | undefined) ?? []);
  return entries.flatMap((entry) => {
    if (typeof entry === 'function') return [entry as Type];
    const useClass = (entry as { useClass?: Type } | null)?.useClass;
    return useClass ? [useClass] : [];
  });
}
