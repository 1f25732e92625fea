import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ConnectionLifecycle } from './connection-lifecycle.js';
import { ConnectionStore, type InstanceHeartbeat } from './connection.store.js';
import type { Envelope } from '../common/envelope.js';
import type {
  CloseReason,
  ConnectionEndpoint,
  ConnectionRecord,
  ConnectionState,
} from './connection.types.js';
import { errorMessage, guarded } from '../common/failure-log.js';
import { RealtimeServer } from '../realtime/realtime-server.js';

export interface DisconnectCommand {
  userId?: string;
  sessionId?: string;
  /** Spared connection, e.g. the new one under `SESSION_POLICY=single`. */
  exceptConnectionId?: string;
  reason: CloseReason;
  /** Sent to each affected endpoint before it is closed. */
  notice?: { event: string; payload: Envelope };
}

export interface SessionPage {
  sessions: ConnectionRecord[];
  totalCount: number;
}

const DISCONNECT_CHANNEL = 'registry:disconnect';

/**
 * Every authenticated connection of the process, mirrored into the cluster-wide
 * `ConnectionStore`. Cross-instance commands travel as adapter server-side events (fire and
 * forget), so nothing here asks every node and waits for answers.
 */
@Injectable()
export class ConnectionRegistry implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ConnectionRegistry.name);
  private readonly local = new Map<string, ConnectionState>();
  /** This instance's endpoints per namespace (or door path), and its users' connection counts. */
  private readonly endpointsByNamespace = new Map<string, number>();
  private readonly localUsers = new Map<string, number>();
  private readonly instanceId: string;
  private heartbeatTimer?: NodeJS.Timeout;
  private missedWrites = false;

  private liveInstances: string[] = [];

  constructor(
    private readonly store: ConnectionStore,
    private readonly realtime: RealtimeServer,
    private readonly lifecycle: ConnectionLifecycle,
    config: AppConfig,
  ) {
    this.instanceId = config.server.serverId;
    this.clustered = config.redis !== null;
    this.heartbeatMs = Math.max(250, Math.floor(config.presence.ttlMs / 3));
  }

  private readonly heartbeatMs: number;
  private readonly clustered: boolean;

  onApplicationBootstrap(): void {
    this.realtime.whenReady((server) => {
      server.of('/').on(
        DISCONNECT_CHANNEL,
        guarded('disconnect on command', (command: DisconnectCommand) => this.disconnectLocal(command)),
      );
    });
    const beat = guarded('send the heartbeat', () => this.beat());
    void this.forgetPreviousRun().then(beat);
    this.heartbeatTimer = setInterval(beat, this.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /**
   * An instance restarted under the same `SERVER_ID` (after a crash) finds the connections its
   * previous run published: none of them lives any more. They leave the cluster view, and their
   * users are said to be gone, before the first heartbeat would keep them alive.
   */
  private async forgetPreviousRun(): Promise<void> {
    if (!this.clustered) return;
    const stale = await this.attempt('read a previous run', () =>
      this.store.connectionsOfInstance(this.instanceId),
    );
    if (!stale?.length) return;
    const current = new Set(this.local.keys());
    const gone = stale.filter((record) => !current.has(record.connectionId));
    if (gone.length === 0) return;
    this.logger.log(`Forgetting ${gone.length} connections of this instance's previous run`);
    await this.write('forget a previous run', () => this.store.leave(gone));
    for (const userId of new Set(gone.map((record) => record.userId)))
      this.lifecycle.emit('userDisconnected', userId);
  }

  /** The instance's connections leave the cluster view in one step, not one write per socket. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    const records = [...this.local.values()].map((connection) => this.recordOf(connection));
    await this.attempt('leave the cluster view', () => this.store.leave(records));
  }

  /**
   * Records an endpoint (a namespace socket, a plain WebSocket) that passed the handshake; the
   * first endpoint of a connection adds the connection.
   */
  register(endpoint: ConnectionEndpoint): void {
    const { connection } = endpoint;
    if (!connection.endpoints.has(endpoint)) {
      connection.endpoints.add(endpoint);
      bump(this.endpointsByNamespace, endpoint.namespace, 1);
    }
    const isNew = !this.local.has(connection.identity.connectionId);
    this.local.set(connection.identity.connectionId, connection);
    if (isNew) bump(this.localUsers, connection.identity.userId, 1);
    const record = this.recordOf(connection);
    if (!isNew) {
      void this.write('update a connection', () => this.store.update(record));
      return;
    }
    void this.write('record a connection', async () => (await this.store.add(record)).userConnections).then(
      (userConnections) => {
        this.lifecycle.emit('opened', connection);
        // A failed write leaves the count unknown: say so anyway, presence arbitrates repeats.
        if (userConnections === 1 || userConnections === undefined) {
          this.lifecycle.emit('userConnected', record.userId);
        }
      },
    );
  }

  /**
   * Forgets an endpoint that closed; the last one of a connection removes the connection. While
   * the instance shuts down its endpoints close all at once: the store is left alone then, and
   * `onApplicationShutdown` removes every record in one step.
   */
  unregister(endpoint: ConnectionEndpoint): void {
    const { connection } = endpoint;
    if (connection.endpoints.delete(endpoint)) bump(this.endpointsByNamespace, endpoint.namespace, -1);
    const connectionId = connection.identity.connectionId;
    if (!this.local.has(connectionId) || this.realtime.isClosing) return;
    const record = this.recordOf(connection);
    if (connection.endpoints.size > 0) {
      void this.write('update a connection', () => this.store.update(record));
      return;
    }
    this.local.delete(connectionId);
    bump(this.localUsers, connection.identity.userId, -1);
    void this.write(
      'remove a connection',
      async () => (await this.store.remove(record)).userConnections,
    ).then((userConnections) => {
      this.lifecycle.emit('closed', connection);
      // As above: presence checks for other connections before it takes the user offline.
      if (userConnections === 0 || userConnections === undefined) {
        this.lifecycle.emit('userDisconnected', record.userId);
      }
    });
  }

  /** Re-publishes a connection whose details changed (e.g. a refreshed expiry). */
  refresh(connection: ConnectionState): void {
    if (!this.local.has(connection.identity.connectionId)) return;
    const record = this.recordOf(connection);
    void this.write('update a connection', () => this.store.update(record));
  }

  get localConnectionCount(): number {
    return this.local.size;
  }

  /** The instances whose heartbeat is recent, as the cluster view has them now. */
  liveInstanceIds(): Promise<string[]> {
    return this.store.liveInstanceIds();
  }

  /** Every instance seen lately and when it last beat. */
  instanceHeartbeats(): Promise<InstanceHeartbeat[]> {
    return this.store.instanceHeartbeats();
  }

  /** What an instance published, readable for a while after it stopped beating (a crash). */
  connectionsOfInstance(instanceId: string): Promise<ConnectionRecord[]> {
    return this.store.connectionsOfInstance(instanceId);
  }

  /** This instance's connections of these users. */
  countLocalUserConnections(userIds: readonly string[]): number {
    const wanted = new Set(userIds);
    let count = 0;
    for (const connection of this.local.values()) if (wanted.has(connection.identity.userId)) count += 1;
    return count;
  }

  /** The users with a connection on this instance. */
  localUserIds(): string[] {
    return [...this.localUsers.keys()];
  }

  /** How many users have a connection on this instance; kept as connections come and go. */
  get localUserCount(): number {
    return this.localUsers.size;
  }

  /** This instance's endpoints per namespace (a plain WebSocket under its path); kept as they come and go. */
  localEndpointCounts(): Record<string, number> {
    return Object.fromEntries(this.endpointsByNamespace);
  }

  /** This instance's connections, e.g. for something sent once to each of them. */
  localConnections(): IterableIterator<ConnectionState> {
    return this.local.values();
  }

  get serverId(): string {
    return this.instanceId;
  }

  countConnections(): Promise<number> {
    return this.store.countConnections();
  }

  countUserConnections(userId: string): Promise<number> {
    return this.store.countUserConnections(userId);
  }

  async listSessions(query: { page: number; limit: number; userId?: string }): Promise<SessionPage> {
    const records = query.userId
      ? await this.store.connectionsOfUser(query.userId)
      : await this.store.listConnections();
    const all = records.sort(
      (a, b) => a.connectedAt.localeCompare(b.connectedAt) || a.connectionId.localeCompare(b.connectionId),
    );
    const start = (query.page - 1) * query.limit;
    return { sessions: all.slice(start, start + query.limit), totalCount: all.length };
  }

  /** Costs what the user has, not what the cluster has. */
  connectionsOfUser(userId: string): Promise<ConnectionRecord[]> {
    return this.store.connectionsOfUser(userId);
  }

  /** Costs what the session has, not what the cluster has. */
  connectionsOfSession(sessionId: string): Promise<ConnectionRecord[]> {
    return this.store.connectionsOfSession(sessionId);
  }

  /** Disconnects matching connections on every instance. */
  disconnect(command: DisconnectCommand): void {
    this.disconnectLocal(command);
    if (this.clustered && this.realtime.isReady) {
      this.realtime.namespace('/').serverSideEmit(DISCONNECT_CHANNEL, command);
    }
  }

  private disconnectLocal(command: DisconnectCommand): void {
    for (const connection of [...this.local.values()]) {
      const { identity } = connection;
      if (identity.connectionId === command.exceptConnectionId) continue;
      if (command.userId !== undefined && identity.userId !== command.userId) continue;
      if (command.sessionId !== undefined && identity.sessionId !== command.sessionId) continue;
      closeConnection(connection, command);
    }
  }

  /**
   * Keeps this instance alive in the cluster view, and rewrites its whole view when the store
   * lost it (Redis restarted empty) or missed writes (Redis was unreachable for a while).
   */
  private async beat(): Promise<void> {
    const alive = await this.attempt('send the heartbeat', () => this.store.heartbeat());
    if (alive === undefined) return;
    await this.watchInstances();
    const lost = !alive && this.local.size > 0;
    if (!lost && !this.missedWrites) return;
    this.logger.log(`Re-publishing ${this.local.size} connections to the cluster view`);
    const records = [...this.local.values()].map((connection) => this.recordOf(connection));
    this.missedWrites = false;
    await this.write('re-publish connections', () => this.store.replaceAll(records));
  }

  private async watchInstances(): Promise<void> {
    const instances = await this.attempt('list live instances', () => this.store.liveInstanceIds());
    if (!instances) return;
    const sorted = [...instances].sort();
    if (sorted.join('\n') === this.liveInstances.join('\n')) return;
    this.liveInstances = sorted;
    this.lifecycle.emit('instancesChanged', sorted);
  }

  /**
   * A store write; one that fails is made good by the next heartbeat's rewrite. Resolves once the
   * write landed (or failed), so that what follows it sees the store as the write left it.
   */
  private async write<T>(what: string, action: () => Promise<T>): Promise<T | undefined> {
    try {
      return await action();
    } catch (error) {
      this.missedWrites = true;
      this.logger.warn(`Could not ${what}: ${errorMessage(error)}`);
      return undefined;
    }
  }

  private recordOf(connection: ConnectionState): ConnectionRecord {
    const { identity } = connection;
    return {
      connectionId: identity.connectionId,
      sessionId: identity.sessionId,
      userId: identity.userId,
      roles: identity.roles,
      instanceId: this.instanceId,
      sockets: [...connection.endpoints].map((endpoint) => ({
        socketId: endpoint.id,
        namespace: endpoint.namespace,
      })),
      connectedAt: new Date(connection.connectedAt).toISOString(),
      expiresAt: new Date(identity.expiresAt).toISOString(),
      tokenFingerprints: [...connection.carriedTokens.keys()],
      tokensExpireAt: new Date(
        Math.max(identity.expiresAt, ...connection.carriedTokens.values()),
      ).toISOString(),
      ipAddress: connection.ipAddress,
      userAgent: connection.userAgent,
    };
  }

  private async attempt<T>(what: string, action: () => Promise<T>): Promise<T | undefined> {
    try {
      return await action();
    } catch (error) {
      this.logger.warn(`Could not ${what}: ${errorMessage(error)}`);
      return undefined;
    }
  }
}

/** Adds `delta` to a count, forgetting the key at 0. */
function bump(counts: Map<string, number>, key: string, delta: number): void {
  const count = (counts.get(key) ?? 0) + delta;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}

/** Tells every endpoint of the connection, then closes them (each closes on its own transport). */
function closeConnection(connection: ConnectionState, command: DisconnectCommand): void {
  const { notice } = command;
  if (notice) {
    for (const endpoint of connection.endpoints) endpoint.emit(notice.event, notice.payload);
  }
  for (const endpoint of [...connection.endpoints]) endpoint.close(command.reason);
}
