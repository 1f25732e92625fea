import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SessionRevoker } from '../auth/session-revoker.js';
import { Clock } from '../common/clock.js';
import { envelope, type Envelope } from '../common/envelope.js';
import { AppError } from '../common/errors.js';
import { errorMessage, guarded } from '../common/failure-log.js';
import { AppConfig } from '../config/app-config.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import type { ConnectionRecord, ConnectionState } from '../connections/connection.types.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { PresenceService } from '../presence/presence.service.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { AdminAuditRepository } from './admin-audit.repository.js';
import {
  AdminLimits,
  type AdminAction,
  type AdminConnectionView,
  type AdminSystemNotice,
  type AdminUserStatus,
  type AuditEntry,
  type AuditPage,
  type AuditQuery,
  type BroadcastRequest,
  type BroadcastResult,
  type ConnectedUser,
  type ConnectionsPage,
  type ConnectionsQuery,
  type DisconnectUserRequest,
  type DisconnectUserResult,
  type RevokeSessionRequest,
  type RevokeSessionResult,
  type UsersPage,
} from './admin.events.js';

/** Who takes an admin action, and through which door: what the audit log keeps of them. */
export interface AdminActor {
  userId: string;
  address: string | null;
  via: 'socket' | 'rest';
}

/** The `system` event of the protocol (docs/protocol.md, Notifications), sent by admins. */
const SYSTEM_EVENT = 'system';
const DEFAULT_DISCONNECT_MESSAGE = 'An administrator closed this connection';

/** What travels to every instance; each acts on its own connections. */
type AdminCommand =
  /** Once to each connection: its first endpoint (the only one for most clients). */
  | { kind: 'broadcast'; notice: Envelope<'system', AdminSystemNotice> }
  /** To every endpoint of the user's connections, before they are closed. */
  | { kind: 'notify-user'; userId: string; notice: Envelope<'system', AdminSystemNotice> };

const COMMAND_CHANNEL = 'admin:command';

/**
 * What admins do (docs/protocol.md, Admin): disconnect a user, broadcast a `system` notice,
 * revoke a session, and look at the cluster's connections and users. Every action is written to
 * the audit log before it is carried out (an action that cannot be audited is refused), then
 * published as an `admin.*` event.
 */
@Injectable()
export class AdminService implements OnApplicationBootstrap {
  private readonly logger = new Logger(AdminService.name);
  /** Other instances exist only over Redis. */
  private readonly clustered: boolean;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly revoker: SessionRevoker,
    private readonly audit: AdminAuditRepository,
    private readonly notifications: NotificationsService,
    private readonly presence: PresenceService,
    private readonly realtime: RealtimeServer,
    private readonly clock: Clock,
    config: AppConfig,
  ) {
    this.clustered = config.redis !== null;
  }

  onApplicationBootstrap(): void {
    this.realtime.whenReady((server) =>
      server.of('/').on(
        COMMAND_CHANNEL,
        guarded('run an admin command from another instance', (command: AdminCommand) =>
          this.runHere(command),
        ),
      ),
    );
  }

  /**
   * Closes every connection of the user, on every namespace, door and instance, each told why
   * first (`system`, level `warning`). With `revoke`, every session of theirs is revoked too, so
   * that the tokens they hold are refused until they expire.
   */
  async disconnectUser(actor: AdminActor, request: DisconnectUserRequest): Promise<DisconnectUserResult> {
    const { userId } = request;
    const reason = optionalText('reason', request.reason, AdminLimits.maxReasonLength);
    const revoke = request.revoke === true;
    const records = await this.clusterView(() => this.registry.connectionsOfUser(userId));
    const sessions = [...new Set(records.map((record) => record.sessionId))];
    const entry = await this.record(actor, 'user.disconnected', userId, reason, {
      revoke,
      connections: records.length,
      ...(revoke ? { sessions } : {}),
    });
    const notice = envelope(SYSTEM_EVENT, {
      message: reason ?? DEFAULT_DISCONNECT_MESSAGE,
      level: 'warning',
    } satisfies AdminSystemNotice);
    let revokedSessions: string[] = [];
    if (revoke) {
      // The notice first, everywhere; then each session is revoked and its connections closed.
      this.everywhere({ kind: 'notify-user', userId, notice });
      revokedSessions = await this.revoker.revokeUser(userId, 'admin');
    }
    // Whatever the cluster view missed (a write that failed) is closed by user, on every instance.
    this.registry.disconnect({
      userId,
      reason: revoke ? 'revoked' : 'disconnected',
      ...(revoke ? {} : { notice: { event: SYSTEM_EVENT, payload: notice } }),
    });
    this.publish(entry, {
      type: 'admin.user.disconnected',
      userId,
      data: {
        by: actor.userId,
        ...(reason === null ? {} : { reason }),
        revoked: revoke,
        connections: records.length,
      },
    });
    return { userId, disconnected: records.length, revokedSessions, auditId: entry.id };
  }

  /** `system` `{ message, level, title? }` once to every connection of the cluster. */
  async broadcast(actor: AdminActor, request: BroadcastRequest): Promise<BroadcastResult> {
    const message = requiredText('message', request.message, AdminLimits.maxMessageLength);
    const title = optionalText('title', request.title, AdminLimits.maxTitleLength);
    const notice: AdminSystemNotice = { message, level: request.level, ...(title === null ? {} : { title }) };
    const targetedConnections = await this.registry
      .countConnections()
      .catch(() => this.registry.localConnectionCount);
    const entry = await this.record(actor, 'broadcast', null, null, { ...notice, targetedConnections });
    this.everywhere({ kind: 'broadcast', notice: envelope(SYSTEM_EVENT, notice) });
    this.publish(entry, { type: 'admin.broadcast', broadcast: true, data: { ...notice, by: actor.userId } });
    return { targetedConnections, auditId: entry.id };
  }

  /** Revokes one session, as `DELETE /api/sessions/:id` does for an admin. */
  async revokeSession(actor: AdminActor, request: RevokeSessionRequest): Promise<RevokeSessionResult> {
    const { sessionId } = request;
    const records = await this.clusterView(() => this.registry.connectionsOfSession(sessionId));
    const userId = records[0]?.userId;
    const entry = await this.record(actor, 'session.revoked', sessionId, null, {
      ...(userId === undefined ? {} : { userId }),
      connections: records.length,
    });
    const disconnected = await this.revoker.revoke(
      { sessionId, ...(userId === undefined ? {} : { userId }), revokedBy: 'admin' },
      records,
    );
    this.publish(entry, {
      type: 'admin.session.revoked',
      ...(userId === undefined ? {} : { userId }),
      sessionId,
      data: { by: actor.userId, sessionId, disconnected },
    });
    return { sessionId, ...(userId === undefined ? {} : { userId }), disconnected, auditId: entry.id };
  }

  /** The cluster's live connections, filtered, oldest first. */
  async connections(query: ConnectionsQuery): Promise<ConnectionsPage> {
    const { page, limit } = paging(query);
    const { userId, serverId, namespace } = query;
    let records: ConnectionRecord[];
    if (userId !== undefined) {
      records = await this.clusterView(() => this.registry.connectionsOfUser(userId));
    } else if (serverId !== undefined) {
      records = await this.clusterView(async () =>
        (await this.registry.liveInstanceIds()).includes(serverId)
          ? this.registry.connectionsOfInstance(serverId)
          : [],
      );
    } else {
      records = await this.allConnections();
    }
    const matching = records
      .filter((record) => serverId === undefined || record.instanceId === serverId)
      .filter((record) => userId === undefined || record.userId === userId)
      .filter((record) => namespace === undefined || record.sockets.some((s) => s.namespace === namespace))
      .sort(oldestFirst);
    const start = (page - 1) * limit;
    return {
      connections: matching.slice(start, start + limit).map(toConnectionView),
      totalCount: matching.length,
      page,
      limit,
    };
  }

  /** The users with live connections, by user id, each with their connection count. */
  async users(query: { page?: number; limit?: number }): Promise<UsersPage> {
    const { page, limit } = paging(query);
    const byUser = new Map<string, ConnectionRecord[]>();
    for (const record of await this.allConnections()) {
      const own = byUser.get(record.userId);
      if (own) own.push(record);
      else byUser.set(record.userId, [record]);
    }
    const users = [...byUser.keys()].sort();
    const start = (page - 1) * limit;
    return {
      users: users
        .slice(start, start + limit)
        .map((userId) => toConnectedUser(userId, byUser.get(userId) ?? [])),
      totalCount: users.length,
      page,
      limit,
    };
  }

  /** One user: their live connections and their presence; an unknown user is offline. */
  async userStatus(userId: string): Promise<AdminUserStatus> {
    const [records, presence] = await Promise.all([
      this.clusterView(() => this.registry.connectionsOfUser(userId)),
      this.presence.statusOf(userId),
    ]);
    return {
      userId,
      online: records.length > 0,
      connections: records.length,
      status: records.length > 0 ? presence.status : 'offline',
      lastSeenAt: presence.lastSeenAt,
      sessions: records.sort(oldestFirst).map(toConnectionView),
    };
  }

  auditLog(query: AuditQuery): Promise<AuditPage> {
    return this.audit.page({
      ...(query.before === undefined ? {} : { before: query.before }),
      limit: Math.min(query.limit ?? AdminLimits.defaultPageSize, AdminLimits.maxPageSize),
    });
  }

  private async allConnections(): Promise<ConnectionRecord[]> {
    const all = await this.clusterView(() =>
      this.registry.listSessions({ page: 1, limit: Number.MAX_SAFE_INTEGER }),
    );
    return all.sessions;
  }

  /** Audited before it is carried out: an action the log cannot keep is not taken. */
  private record(
    actor: AdminActor,
    action: AdminAction,
    target: string | null,
    reason: string | null,
    details: Record<string, unknown>,
  ): Promise<AuditEntry> {
    return this.audit.append({
      actorId: actor.userId,
      action,
      target,
      reason,
      details,
      address: actor.address,
      via: actor.via,
      createdAt: new Date(this.clock.now()),
    });
  }

  /** The action's `admin.*` event; the action is done whatever becomes of it. */
  private publish(
    entry: AuditEntry,
    event: {
      type: string;
      userId?: string;
      sessionId?: string;
      broadcast?: true;
      data: Record<string, unknown>;
    },
  ): void {
    this.notifications
      .publishEvent({ ...event, data: { ...event.data, auditId: entry.id } })
      .catch((error: unknown) => this.logger.warn(`Could not publish ${event.type}: ${errorMessage(error)}`));
  }

  /** Runs the command here, and sends it once to the other instances. */
  private everywhere(command: AdminCommand): void {
    this.runHere(command);
    if (this.clustered && this.realtime.isReady) {
      this.realtime.namespace('/').serverSideEmit(COMMAND_CHANNEL, command);
    }
  }

  private runHere(command: AdminCommand): void {
    for (const connection of this.registry.localConnections()) {
      if (command.kind === 'broadcast') {
        firstEndpointOf(connection)?.emit(SYSTEM_EVENT, command.notice);
      } else if (connection.identity.userId === command.userId) {
        for (const endpoint of connection.endpoints) endpoint.emit(SYSTEM_EVENT, command.notice);
      }
    }
  }

  /** A read of the cluster view; out of reach (Redis down), it is a 503, not a 500. */
  private async clusterView<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof AppError) throw error;
      this.logger.warn(`Reading the cluster view failed: ${errorMessage(error)}`);
      throw AppError.unavailable('The cluster view cannot be read right now; retry');
    }
  }
}

function firstEndpointOf(connection: ConnectionState) {
  for (const endpoint of connection.endpoints) return endpoint;
  return undefined;
}

function paging(query: { page?: number; limit?: number }): { page: number; limit: number } {
  return {
    page: query.page ?? 1,
    limit: Math.min(query.limit ?? AdminLimits.defaultPageSize, AdminLimits.maxPageSize),
  };
}

function oldestFirst(a: ConnectionRecord, b: ConnectionRecord): number {
  return a.connectedAt.localeCompare(b.connectedAt) || a.connectionId.localeCompare(b.connectionId);
}

function toConnectionView(record: ConnectionRecord): AdminConnectionView {
  return {
    connectionId: record.connectionId,
    sessionId: record.sessionId,
    userId: record.userId,
    roles: record.roles,
    serverId: record.instanceId,
    namespaces: [...new Set(record.sockets.map((socket) => socket.namespace))],
    connectedAt: record.connectedAt,
    expiresAt: record.expiresAt,
    ipAddress: record.ipAddress,
    userAgent: record.userAgent,
  };
}

function toConnectedUser(userId: string, records: readonly ConnectionRecord[]): ConnectedUser {
  const sorted = [...records].sort(oldestFirst);
  return {
    userId,
    connections: records.length,
    namespaces: [
      ...new Set(records.flatMap((record) => record.sockets.map((socket) => socket.namespace))),
    ].sort(),
    servers: [...new Set(records.map((record) => record.instanceId))].sort(),
    connectedSince: sorted[0]?.connectedAt ?? '',
  };
}

/** Text that must show something: blank (whitespace only) is refused, naming the field. */
function requiredText(field: string, value: string, maxLength: number): string {
  if (value.trim() === '' || value.length > maxLength) {
    const problem = `${field} must be 1 to ${maxLength} characters, not blank`;
    throw AppError.validation(problem, [{ field, problems: [problem] }]);
  }
  return value;
}

function optionalText(field: string, value: string | undefined, maxLength: number): string | null {
  return value === undefined ? null : requiredText(field, value, maxLength);
}
