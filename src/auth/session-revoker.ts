import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { envelope } from '../common/envelope.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import type { ConnectionRecord } from '../connections/connection.types.js';
import { ServerEvents } from '../realtime/server-events.js';
import { AuthEvent } from './auth.events.js';
import type { Principal } from './principal.js';
import { RevocationStore } from './revocation.store.js';

/** Who ends a session, for its user's event stream. */
export type RevokedBy = 'user' | 'admin';

export interface SessionRevocation {
  sessionId: string;
  /** The user the session belongs to, when known (a live connection or the caller's own token). */
  userId?: string;
  /** A token of the session still alive beyond its connections (the caller's own), in epoch ms. */
  alsoValidUntil?: number;
  revokedBy: RevokedBy;
}

/**
 * Ends sessions: every token each one carried is refused until it expires (for at least
 * `REVOCATION_TTL_S`), and its connections close on every instance with `auth:revoked`. The
 * rules of who may revoke what belong to the callers.
 */
@Injectable()
export class SessionRevoker {
  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly revocations: RevocationStore,
    private readonly config: AppConfig,
    private readonly serverEvents: ServerEvents,
  ) {}

  /** Revokes one session; answers how many live connections it had. */
  async revoke(revocation: SessionRevocation, connections?: ConnectionRecord[]): Promise<number> {
    const { sessionId } = revocation;
    const live = connections ?? (await this.registry.connectionsOfSession(sessionId));
    const latestExpiry = Math.max(
      Date.now() + this.config.auth.revocationTtlS * 1000,
      revocation.alsoValidUntil ?? 0,
      ...live.map((record) => Date.parse(record.tokensExpireAt)),
    );
    const tokenFingerprints = [...new Set(live.flatMap((record) => record.tokenFingerprints))];
    try {
      await this.revocations.revoke({ sessionId, tokenFingerprints }, latestExpiry);
    } finally {
      this.registry.disconnect({
        sessionId,
        reason: 'revoked',
        notice: {
          event: AuthEvent.Revoked,
          payload: envelope(AuthEvent.Revoked, { reason: 'revoked', sessionId }),
        },
      });
    }
    const owner = live[0]?.userId ?? revocation.userId;
    if (owner !== undefined) {
      this.serverEvents.emit({
        type: 'session.revoked',
        userId: owner,
        sessionId,
        data: { sessionId, revokedBy: revocation.revokedBy },
      });
    }
    return live.length;
  }

  /**
   * The caller's logout: their session (with a `sid`, or else the token itself), or with
   * `everywhere` every session of theirs; answers the sessions revoked.
   */
  async logout(caller: Principal, everywhere: boolean): Promise<string[]> {
    const { userId, sessionId, expiresAt, tokenFingerprint } = caller;
    if (tokenFingerprint !== undefined) {
      await this.revocations.revoke(
        { tokenFingerprints: [tokenFingerprint] },
        Math.max(expiresAt, Date.now() + 1000),
      );
    }
    if (everywhere) {
      return this.revokeUser(
        userId,
        'user',
        sessionId === undefined ? undefined : { sessionId, validUntil: expiresAt },
      );
    }
    if (sessionId !== undefined) {
      await this.revoke({ sessionId, userId, alsoValidUntil: expiresAt, revokedBy: 'user' });
      return [sessionId];
    }
    // Without a `sid`, each connection that carried this very token is a session of its own.
    const carrying = (await this.registry.connectionsOfUser(userId)).filter(
      (record) => tokenFingerprint !== undefined && record.tokenFingerprints.includes(tokenFingerprint),
    );
    await Promise.all(
      carrying.map((record) =>
        this.revoke({ sessionId: record.sessionId, userId, revokedBy: 'user' }, [record]),
      ),
    );
    return carrying.map((record) => record.sessionId);
  }

  /**
   * Revokes every live session of the user, and `alsoSessionId` (the caller's own, which may have
   * no live connection); answers the sessions revoked.
   */
  async revokeUser(
    userId: string,
    revokedBy: RevokedBy,
    also?: { sessionId: string; validUntil: number },
  ): Promise<string[]> {
    const records = await this.registry.connectionsOfUser(userId);
    const bySession = new Map<string, ConnectionRecord[]>();
    for (const record of records)
      bySession.set(record.sessionId, [...(bySession.get(record.sessionId) ?? []), record]);
    if (also && !bySession.has(also.sessionId)) bySession.set(also.sessionId, []);
    await Promise.all(
      [...bySession].map(([sessionId, live]) =>
        this.revoke(
          {
            sessionId,
            userId,
            revokedBy,
            ...(also?.sessionId === sessionId ? { alsoValidUntil: also.validUntil } : {}),
          },
          live,
        ),
      ),
    );
    return [...bySession.keys()];
  }
}
