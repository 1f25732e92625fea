import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal.js';
import { SessionRevoker } from '../auth/session-revoker.js';
import { Role } from '../auth/roles.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import { AppError } from '../common/errors.js';
import type { ConnectionRecord } from '../connections/connection.types.js';
import type { SessionsListResult, SessionView } from './sessions.events.js';

const DEFAULT_PAGE_SIZE = 50;

@Injectable()
export class SessionsService {
  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly revoker: SessionRevoker,
  ) {}

  countActive(): Promise<number> {
    return this.registry.countConnections();
  }

  async list(query: { page?: number; limit?: number; userId?: string }): Promise<SessionsListResult> {
    const page = await this.registry.listSessions({
      page: query.page ?? 1,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      userId: query.userId,
    });
    return { sessions: page.sessions.map(toSessionView), totalCount: page.totalCount };
  }

  async sessionsOf(userId: string): Promise<SessionView[]> {
    return (await this.registry.connectionsOfUser(userId)).map(toSessionView);
  }

  /**
   * Revokes a session: its tokens are refused until they expire and its sockets are closed on
   * every instance. Users revoke their own sessions; admins any.
   */
  async revoke(sessionId: string, caller: Principal): Promise<{ sessionId: string; disconnected: number }> {
    const connections = await this.registry.connectionsOfSession(sessionId);
    const isAdmin = caller.roles.includes(Role.Admin);
    const ownsLiveSession =
      connections.length > 0 && connections.every((record) => record.userId === caller.userId);
    const isCallersOwnToken = caller.sessionId === sessionId;
    if (!isAdmin && !ownsLiveSession && !isCallersOwnToken) {
      throw AppError.notFound(`No session ${sessionId} of yours`);
    }
    const disconnected = await this.revoker.revoke(
      {
        sessionId,
        ...(isCallersOwnToken ? { userId: caller.userId, alsoValidUntil: caller.expiresAt } : {}),
        revokedBy: ownsLiveSession || isCallersOwnToken ? 'user' : 'admin',
      },
      connections,
    );
    return { sessionId, disconnected };
  }
}

function toSessionView(record: ConnectionRecord): SessionView {
  return {
    id: record.sessionId,
    userId: record.userId,
    connectionId: record.connectionId,
    instanceId: record.instanceId,
    namespaces: [...new Set(record.sockets.map((socket) => socket.namespace))],
    connectedAt: record.connectedAt,
    expiresAt: record.expiresAt,
    userAgent: record.userAgent,
    ipAddress: record.ipAddress,
  };
}
