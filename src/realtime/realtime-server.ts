import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { envelope } from '../common/envelope.js';
import { RealtimeChannel } from './realtime-channel.js';
import { ServerEvents } from './server-events.js';
import type { Namespace, Server } from 'socket.io';

type ServerListener = (server: Server) => void;

/**
 * The process's Socket.IO server, handed over by the adapter when Nest creates it. Services
 * reach namespaces and rooms through it instead of holding gateway instances.
 */
@Injectable()
export class RealtimeServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RealtimeServer.name);
  private server: Server | null = null;
  private readonly listeners: ServerListener[] = [];
  private readonly known = new Set<Namespace>();
  private closing = false;

  constructor(private readonly serverEvents: ServerEvents = new ServerEvents()) {}

  /**
   * Nest creates gateways' servers before bootstrap hooks run. Without Switchboard's adapter they
   * would accept sockets with no identity, so the application must not start that way.
   */
  onApplicationBootstrap(): void {
    if (this.server) return;
    throw new Error(
      "Switchboard's Socket.IO adapter is not installed, so sockets would connect without authentication. " +
        "In the application's main.ts, call `await setupSwitchboard(app)` (import { setupSwitchboard } from 'switchboard') " +
        'after NestFactory.create() and before app.listen() or app.init(). ' +
        "(The standalone server's createApp() does it.)",
    );
  }

  attach(server: Server): void {
    this.server = server;
    this.known.add(server.of('/'));
    server.on('new_namespace', (namespace: Namespace) => this.known.add(namespace));
    for (const listener of this.listeners.splice(0)) listener(server);
  }

  /** Runs `listener` once the server exists (at once if it already does). */
  whenReady(listener: ServerListener): void {
    if (this.server) listener(this.server);
    else this.listeners.push(listener);
  }

  get io(): Server {
    if (!this.server) throw new Error('The Socket.IO server is not created yet');
    return this.server;
  }

  get isReady(): boolean {
    return this.server !== null;
  }

  namespace(name: string): Namespace {
    return this.io.of(name);
  }

  /** A typed emitter for a namespace (see `RealtimeChannel`); cheap, keep one per module. */
  channel<Payloads extends object>(namespace: string): RealtimeChannel<Payloads> {
    return new RealtimeChannel<Payloads>(this, namespace);
  }

  /** Every namespace served by this process (gateways register theirs at start-up). */
  namespaces(): Namespace[] {
    return [...this.known];
  }

  /**
   * Shutdown, first step: refuse new handshakes, tell clients to reconnect (to another
   * instance behind the load balancer) and close this instance's sockets.
   */
  beforeApplicationShutdown(signal?: string): void {
    this.closing = true;
    this.serverEvents.emit({ type: 'system.shutdown', data: { ...(signal ? { signal } : {}) } });
    const sockets = this.namespaces().reduce((total, namespace) => total + namespace.sockets.size, 0);
    this.logger.log(`Shutting down${signal ? ` on ${signal}` : ''}: closing ${sockets} sockets`);
    const notice = envelope('system', { message: 'Server is restarting; reconnect', level: 'warning' });
    for (const namespace of this.namespaces()) {
      namespace.local.emit('system', notice);
      namespace.local.disconnectSockets(true);
    }
  }

  get isClosing(): boolean {
    return this.closing;
  }
}
