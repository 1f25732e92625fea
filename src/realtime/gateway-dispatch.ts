import type { MessageMappingProperties } from '@nestjs/websockets';
import { WebSocketsController } from '@nestjs/websockets/web-sockets-controller.js';
import type { Server, Socket } from 'socket.io';
import { guarded } from '../common/failure-log.js';

/** A handler of a gateway, as Nest built it (guards, pipes, interceptors, filters inside). */
export interface GatewayRoute {
  handler: MessageMappingProperties;
  gateway: object;
}

/** The handlers of every gateway of one namespace, by event name; built once, not per socket. */
export class NamespaceRoutes {
  private readonly gateways = new Set<object>();
  private readonly byEvent = new Map<string, GatewayRoute[]>();

  add(gateway: object, handlers: readonly MessageMappingProperties[]): void {
    if (this.gateways.has(gateway)) return;
    this.gateways.add(gateway);
    for (const handler of handlers) {
      const event = String(handler.message);
      const routes = this.byEvent.get(event);
      if (routes) routes.push({ handler, gateway });
      else this.byEvent.set(event, [{ handler, gateway }]);
    }
  }

  get(event: unknown): readonly GatewayRoute[] | undefined {
    return typeof event === 'string' ? this.byEvent.get(event) : undefined;
  }
}

/** Receives a gateway's handlers when one of the server's sockets connects to it. */
export interface GatewayRouteSink {
  addGatewayRoutes(socket: Socket, handlers: readonly MessageMappingProperties[], gateway: object): void;
}

const sinksByServer = new WeakMap<Server, GatewayRouteSink>();
let installed = false;

/**
 * Nest's `WebSocketsController` hands its adapter, for every socket, a copy of each handler of
 * a gateway bound to that socket, so a connection's memory grows with the number of handlers;
 * the adapter's hook never sees the handlers themselves. For the servers registered here, the
 * handlers (one list per gateway) go to the server's sink instead, which routes events by name
 * from a table per namespace; other servers keep Nest's binding.
 */
export function routeGatewaysThrough(server: Server, sink: GatewayRouteSink): void {
  installRouting();
  sinksByServer.set(server, sink);
}

function installRouting(): void {
  if (installed) return;
  const prototype = WebSocketsController.prototype;
  guardLifecycleHooks(prototype);
  const subscribeMessages: unknown = Reflect.get(prototype, 'subscribeMessages');
  if (typeof subscribeMessages !== 'function') {
    throw new Error('@nestjs/websockets no longer has WebSocketsController.subscribeMessages');
  }
  prototype.subscribeMessages = function (
    this: WebSocketsController,
    handlers: MessageMappingProperties[],
    client: unknown,
    gateway: object,
  ): void {
    const sink = sinksByServer.get((client as Partial<Socket>).nsp?.server as Server);
    if (sink) sink.addGatewayRoutes(client as Socket, handlers, gateway);
    else subscribeMessages.call(this, handlers, client, gateway);
  };
  installed = true;
}

type LifecycleSubscriber = (handlerOrGateway: unknown, event: unknown) => void;
const LIFECYCLE_SUBSCRIBERS = {
  subscribeConnectionEvent: 'handleConnection',
  subscribeDisconnectEvent: 'handleDisconnect',
} as const;

/**
 * Nest calls a gateway's `handleConnection` / `handleDisconnect` from an RxJS subscription: a
 * throw there is re-thrown by RxJS on a timer and a rejected promise is left unhandled, and
 * either ends the process. Each hook is wrapped so that its failure is logged and the
 * connection goes on.
 */
function guardLifecycleHooks(prototype: WebSocketsController): void {
  for (const [method, hook] of Object.entries(LIFECYCLE_SUBSCRIBERS)) {
    const subscribe: unknown = Reflect.get(prototype, method);
    if (typeof subscribe !== 'function') {
      throw new Error(`@nestjs/websockets no longer has WebSocketsController.${method}`);
    }
    Reflect.set(
      prototype,
      method,
      function (this: WebSocketsController, handlerOrGateway: unknown, event: unknown) {
        const handler: unknown =
          typeof handlerOrGateway === 'function'
            ? handlerOrGateway
            : (handlerOrGateway as Record<string, unknown> | undefined)?.[hook];
        const guardedHandler =
          typeof handler === 'function'
            ? guarded(`run a gateway's ${hook}`, (...args: unknown[]) =>
                (handler as (...args: unknown[]) => unknown).apply(handlerOrGateway, args),
              )
            : undefined;
        (subscribe as LifecycleSubscriber).call(this, guardedHandler, event);
      },
    );
  }
}
