import type { INestApplicationContext } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { IncomingMessage } from 'node:http';
import { isObservable, type Subscription } from 'rxjs';
import type { Socket as EngineSocket } from 'engine.io';
import type { Namespace, Server, ServerOptions, Socket } from 'socket.io';
import { AppConfig } from '../config/app-config.js';
import { NodeEnv } from '../config/environment.js';
import { EnabledFeatures } from '../config/features.js';
import { RedisService, waitUntilReady, type RedisClient } from '../redis/redis.service.js';
import {
  dispatchLast,
  NamespaceRoutes,
  routeGatewaysThrough,
  type GatewayRoute,
  type GatewayRouteSink,
} from './gateway-dispatch.js';
import { boundedParser } from './bounded-parser.js';
import { ClientAddresses } from '../common/client-address.js';
import { ackFailure } from '../common/envelope.js';
import { FailureLog, guarded } from '../common/failure-log.js';
import { OriginPolicy } from './origin-policy.js';
import { Clock } from '../common/clock.js';
import { DeliveryGaps } from './delivery-gaps.js';
import { DeliveryPathWatch } from './delivery-path.watch.js';
import { originRefused, ServerEvents } from './server-events.js';
import { OutboundBufferWatch } from './outbound-buffer.watch.js';
import { PreAuthAdmission } from './preauth-admission.js';
import { RealtimeCounters } from './realtime-counters.js';
import { RealtimeServer } from './realtime-server.js';
import { TurnWritingWebSocketServer } from './turn-writes.js';
import { Telemetry } from '../observability/telemetry.js';
import { countBroadcasts } from '../observability/broadcast-count.js';

const handlerFailures = new FailureLog('GatewayDispatch');

/** The application's features: every one unless `SwitchboardModule` was told which. */
function enabledFeaturesOf(app: INestApplicationContext): EnabledFeatures {
  try {
    return app.get(EnabledFeatures, { strict: false });
  } catch {
    return new EnabledFeatures();
  }
}

/**
 * How the sharded adapter (Redis Cluster) maps broadcasts to channels. 'static' uses one channel
 * per namespace, plus one for the answers to this instance, all subscribed once when the
 * namespace is created. The default 'dynamic' mode gives every room but socket ids a channel of
 * its own, and every socket here is in a `user:<id>` room and in its chats' rooms: that costs an
 * SSUBSCRIBE per user and per chat on every instance, another round trip at each connect and
 * disconnect, and an SUNSUBSCRIBE whose failure the adapter leaves as an unhandled rejection,
 * which ends the process. Broadcasts reach every instance either way; with 'static', those of
 * one namespace all go through the master owning its channel's slot.
 */
const SHARDED_SUBSCRIPTION_MODE = 'static';

/** What a layer (authentication, limits) installs on every namespace. */
export interface SocketHooks {
  /** Namespace middleware: runs at the handshake, before the socket connects. */
  use?: (socket: Socket, next: (error?: Error) => void) => void;
  /** Runs on connection, before any gateway's handler. */
  onConnection?: (socket: Socket) => void;
}

/**
 * Socket.IO for the whole app: one server, payload limit and handshake origin check from
 * config, the Redis adapter when Redis is configured (in-memory otherwise), and the
 * middlewares (authentication, limits) installed on every namespace before any gateway runs.
 */
export class RealtimeIoAdapter extends IoAdapter implements GatewayRouteSink {
  private readonly redisLogger = new Logger('RealtimeRedis');
  private readonly config: AppConfig;
  private readonly realtime: RealtimeServer;
  private readonly redis: RedisService;
  private readonly originPolicy: OriginPolicy;
  private readonly preAuth: PreAuthAdmission;
  private readonly outbound: OutboundBufferWatch;
  private readonly deliveryPath: DeliveryPathWatch;
  private readonly serverEvents: ServerEvents;
  private readonly addresses: ClientAddresses;
  private readonly counters: RealtimeCounters;
  private readonly telemetry: Telemetry;
  /** Whether the notifications feature's `/ws/events` door serves upgrades beside Engine.IO. */
  private readonly eventsDoor: boolean;
  private readonly adapterClients: RedisClient[] = [];
  private readonly namespaceRoutes = new WeakMap<Namespace, NamespaceRoutes>();
  /** Per socket, the Observable answers still running; see `follow`. */
  private readonly liveResponses = new WeakMap<Socket, Set<Subscription>>();

  constructor(
    app: INestApplicationContext,
    private readonly hooks: SocketHooks[],
  ) {
    super(app);
    this.config = app.get(AppConfig);
    this.realtime = app.get(RealtimeServer);
    this.redis = app.get(RedisService);
    this.originPolicy = new OriginPolicy(
      this.config.limits.corsOrigins,
      this.config.env === NodeEnv.Development,
    );
    const { limits } = this.config;
    this.preAuth = new PreAuthAdmission(app.get(ClientAddresses), {
      perAddress: limits.preAuthConnectionsPerIp,
      total: limits.maxConnections,
    });
    this.outbound = new OutboundBufferWatch(limits.maxOutboundBufferBytes);
    this.deliveryPath = new DeliveryPathWatch(app.get(DeliveryGaps), this.realtime, app.get(Clock));
    this.eventsDoor = enabledFeaturesOf(app).has('notifications');
    this.serverEvents = app.get(ServerEvents);
    this.addresses = app.get(ClientAddresses);
    this.telemetry = app.get(Telemetry);
    this.counters = app.get(RealtimeCounters);
  }

  /** Opens the adapter's Redis connections; waits briefly so the app listens with them ready. */
  async connectToRedis(): Promise<void> {
    if (!this.redis.enabled) return;
    const pub = this.redis.connect('adapter-pub', { enableOfflineQueue: false });
    // On a Redis Cluster, a sharded channel is served only by the master owning its slot. Without
    // `shardedSubscribers`, ioredis sends every SSUBSCRIBE down one connection to one node: the
    // others answer MOVED, which it never resolves nor retries elsewhere, and it does not even
    // re-emit the messages of the channels that node does own. The adapter would hear nothing
    // from the other instances. With it, ioredis keeps one subscriber per master and routes each
    // SSUBSCRIBE by slot.
    const sub = this.redis.connect('adapter-sub', {}, { shardedSubscribers: true });
    this.deliveryPath.watchPublisher(pub);
    this.deliveryPath.watchSubscriber(sub);
    this.adapterClients.push(pub, sub);
    const ready = await Promise.all(this.adapterClients.map((client) => waitUntilReady(client)));
    if (ready.includes(false)) {
      this.redisLogger.warn('Redis is not reachable yet; serving this instance alone until it is');
    }
  }

  override createIOServer(port: number, options?: Partial<ServerOptions>): Server {
    const { limits } = this.config;
    const server = super.createIOServer(port, {
      ...options,
      serveClient: false,
      wsEngine: TurnWritingWebSocketServer,
      // Upgrades to other paths are not Engine.IO's to end where the plain-WebSocket door takes
      // /ws/events and refuses the rest (EventsWebSocketDoor); without notifications, Engine.IO does.
      destroyUpgrade: !this.eventsDoor,
      maxHttpBufferSize: limits.maxPayloadBytes,
      parser: boundedParser(limits.maxPayloadBytes),
      connectTimeout: limits.handshakeTimeoutMs,
      allowRequest: (request, callback) => this.allowRequest(request, callback),
      cors: {
        origin: (origin, callback) => callback(null, this.originPolicy.allows(origin)),
        credentials: true,
      },
    } as ServerOptions);
    if (this.adapterClients.length === 2) {
      const [pub, sub] = this.adapterClients;
      const key = `${this.redis.keyPrefix}socket.io`;
      server.adapter(
        this.config.redis?.kind === 'cluster'
          ? createShardedAdapter(pub, sub, {
              channelPrefix: key,
              subscriptionMode: SHARDED_SUBSCRIPTION_MODE,
            })
          : createAdapter(pub, sub, { key }),
      );
    }
    server.engine.use(this.preAuth.middleware);
    server.engine.on(
      'connection',
      guarded('track a transport connection', (connection: EngineSocket) => {
        this.preAuth.opened(connection);
        connection.on('packetCreate', this.counters.countOutbound);
      }),
    );
    this.outbound.start(server.engine);
    server.engine.once('close', () => this.outbound.stop());
    routeGatewaysThrough(server, this);
    this.protect(server.of('/'));
    server.on('new_namespace', (namespace: Namespace) => this.protect(namespace));
    this.realtime.attach(server);
    return server;
  }

  /** Called for each socket and gateway; the namespace's table learns a gateway once. */
  addGatewayRoutes(socket: Socket, handlers: readonly MessageMappingProperties[], gateway: object): void {
    this.routesOf(socket.nsp).add(gateway, handlers);
    this.telemetry.learnHandlers(gateway, handlers);
  }

  /** Nest's disconnect hook, without the wrapper closure and `once` state per socket and gateway. */
  override bindClientDisconnect(client: Socket, callback: (reason: string) => void): void {
    client.on('disconnect', guarded('run disconnect hooks', callback));
  }

  /**
   * One middleware per socket that routes by event name to every gateway of the namespace,
   * instead of a listener (and Nest's RxJS subscription) per handler per socket: the memory a
   * connection costs no longer grows with the number of handlers or gateways. It stays the last
   * middleware whenever the others are added, so it runs where Socket.IO would call the
   * listeners: an event refused by the per-socket gate (or by a middleware of the app's, added
   * at any time) never reaches a handler. Guards, pipes, interceptors, filters and acks run as
   * before, inside the handler Nest built.
   *
   * An event that no handler and no listener of the socket (`auth:refresh`, say) takes is
   * answered `NOT_FOUND` through its ack, and otherwise dropped, as Socket.IO drops an event
   * nobody listens to.
   */
  private dispatchEvents(socket: Socket): void {
    const routes = this.routesOf(socket.nsp);
    dispatchLast(
      socket,
      guarded('dispatch an event', (packet: unknown[], next: (error?: Error) => void) => {
        // As Socket.IO does for its listeners: nothing reaches a handler once the socket is gone.
        if (!socket.connected) return next();
        this.counters.eventsIn += 1;
        const event = packet[0];
        this.telemetry.eventIn(event);
        const matches = routes.get(event);
        if (matches) {
          for (const route of matches) this.dispatch(socket, route, packet);
        } else if (socket.listenerCount(event as string) === 0) {
          answerUnknownEvent(event, packet[packet.length - 1]);
          return;
        }
        next();
      }),
    );
  }

  private dispatch(socket: Socket, { handler, gateway }: GatewayRoute, packet: unknown[]): void {
    const args = packet.slice(1);
    // As Nest's own binding passes them: nothing, the one argument, or all of them.
    const payload = args.length === 0 ? undefined : args.length === 1 ? args[0] : args;
    const { data, ack } = this.mapPayload(payload) as {
      data: unknown;
      ack?: unknown;
    };
    const replyTo = handler.isAckHandledManually ? undefined : ack;
    const receivedAt = typeof replyTo === 'function' ? performance.now() : 0;
    let result: unknown;
    try {
      result = handler.callback.call(gateway, socket, data, ack);
    } catch (error) {
      handlerFailures.error('Gateway handler', error);
      return;
    }
    Promise.resolve(result).then(
      (response) => {
        // Nest's binding ends a socket's streams at its disconnect: a late answer is dropped.
        if (!socket.connected) return;
        if (!isObservable(response)) {
          this.reply(socket, response, replyTo, packet[0], receivedAt);
          return;
        }
        this.follow(
          socket,
          response.subscribe({
            next: (value) => this.reply(socket, value, replyTo, packet[0], receivedAt),
            error: (error: unknown) => handlerFailures.error('Gateway handler', error),
          }),
        );
      },
      (error: unknown) => handlerFailures.error('Gateway handler', error),
    );
  }

  /**
   * An Observable a handler answers with lives as long as its socket, as with Nest's binding:
   * whatever is still subscribed at the disconnect is unsubscribed then. One set and one
   * listener per socket, made with its first answer that does not complete at once.
   */
  private follow(socket: Socket, subscription: Subscription): void {
    if (subscription.closed) return;
    let live = this.liveResponses.get(socket);
    if (!live) {
      const responses = new Set<Subscription>();
      live = responses;
      this.liveResponses.set(socket, responses);
      socket.once(
        'disconnect',
        guarded('end the answers of a closed socket', () => {
          this.liveResponses.delete(socket);
          for (const response of [...responses]) response.unsubscribe();
        }),
      );
    }
    const responses = live;
    responses.add(subscription);
    subscription.add(() => responses.delete(subscription));
  }

  private routesOf(namespace: Namespace): NamespaceRoutes {
    let routes = this.namespaceRoutes.get(namespace);
    if (!routes) {
      routes = new NamespaceRoutes();
      this.namespaceRoutes.set(namespace, routes);
    }
    return routes;
  }

  /** `received` and `receivedAt` (`performance.now()`) time the answer to the event's ack. */
  private reply(
    socket: Socket,
    response: unknown,
    ack: unknown,
    received: unknown,
    receivedAt: number,
  ): void {
    if (response === undefined || response === null) return;
    const { event, data } = response as { event?: unknown; data?: unknown };
    if (typeof event === 'string') {
      socket.emit(event, data);
      this.telemetry.eventOut(event);
    } else if (typeof ack === 'function') {
      (ack as (value: unknown) => void)(response);
      this.telemetry.ackAnswered(received, receivedAt);
    }
  }

  /**
   * The dispatcher first, as it keeps itself behind every middleware added after it (the
   * hooks' gate, then whatever gateways add), then the hooks. A socket whose dispatcher cannot
   * be installed would receive events that reach no handler: it is closed instead.
   */
  private protect(namespace: Namespace): void {
    countBroadcasts(namespace, this.telemetry);
    namespace.on('connection', (socket: Socket) => this.preAuth.settle(socket.conn));
    namespace.on(
      'connection',
      guarded(
        'install the event dispatcher',
        (socket: Socket) => this.dispatchEvents(socket),
        (_error, socket: Socket) => socket.disconnect(true),
      ),
    );
    for (const { use, onConnection } of this.hooks) {
      if (use) namespace.use(use);
      if (onConnection) namespace.on('connection', onConnection);
    }
  }

  /** Refuses a foreign Origin during the handshake itself, for WebSocket upgrades too. */
  private allowRequest(
    request: IncomingMessage,
    callback: (error: string | null | undefined, success: boolean) => void,
  ): void {
    if (this.realtime.isClosing) {
      callback('SERVER_SHUTTING_DOWN', false);
      return;
    }
    const allowed = this.originPolicy.allows(request.headers.origin, request.headers.host);
    if (!allowed) {
      this.telemetry.handshakeRefused('FORBIDDEN_ORIGIN');
      this.serverEvents.emit(originRefused(request.headers.origin, this.addresses.of(request)));
    }
    callback(allowed ? null : 'FORBIDDEN_ORIGIN', allowed);
  }
}

/** The longest part of an unknown event's name repeated in the answer. */
const EVENT_NAME_ECHO_LIMIT = 100;

/** `NOT_FOUND` through the ack; without one, nothing, as Socket.IO does for an unheard event. */
function answerUnknownEvent(event: unknown, ack: unknown): void {
  if (typeof ack !== 'function') return;
  const name = String(event).slice(0, EVENT_NAME_ECHO_LIMIT);
  (ack as (response: unknown) => void)(
    ackFailure({ code: 'NOT_FOUND', message: `No handler for the event ${JSON.stringify(name)}` }),
  );
}
