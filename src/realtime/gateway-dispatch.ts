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

  /** A number is looked up as its text, as an event emitter does with the listeners' names. */
  get(event: unknown): readonly GatewayRoute[] | undefined {
    if (typeof event === 'number') return this.byEvent.get(String(event));
    return typeof event === 'string' ? this.byEvent.get(event) : undefined;
  }
}

/** A socket middleware, as `socket.use` takes it: the packet is `[event, ...args, ack?]`. */
export type EventMiddleware = (packet: unknown[], next: (error?: Error) => void) => void;

/**
 * Installs `dispatcher` as the socket's last middleware and keeps it last: Socket.IO runs a
 * socket's middlewares in the order `socket.use` added them and then hands the event to the
 * socket's listeners, and the dispatcher stands in for those listeners. From here on,
 * `socket.use` puts a middleware just before the dispatcher, so that one added at any time (a
 * gateway's `handleConnection` after an `await`, say) still runs before the handlers, and an
 * event it refuses never reaches one.
 */
export function dispatchLast(socket: Socket, dispatcher: EventMiddleware): void {
  middlewaresOf(socket).push(dispatcher);
  Reflect.set(socket, 'use', useBeforeDispatcher);
}

/** One function shared by every socket (`this` is the socket), not a closure per socket. */
function useBeforeDispatcher(this: Socket, middleware: EventMiddleware): Socket {
  const middlewares = middlewaresOf(this);
  middlewares.splice(middlewares.length - 1, 0, middleware);
  return this;
}

/** Socket.IO keeps a socket's middlewares in `fns` and copies it each time it runs them. */
function middlewaresOf(socket: Socket): EventMiddleware[] {
  const middlewares: unknown = Reflect.get(socket, 'fns');
  if (!Array.isArray(middlewares)) {
    throw new Error("socket.io no longer keeps a socket's middlewares in Socket#fns");
  }
  return middlewares as EventMiddleware[];
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
