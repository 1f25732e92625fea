import { createHash } from 'node:crypto';

/** What a revocation names: a session id and/or the fingerprints of its tokens. */
export interface RevocationTarget {
  sessionId?: string;
  tokenFingerprints?: string[];
}

/** Revoked sessions and tokens, remembered until the tokens would have expired anyway. */
export abstract class RevocationStore {
  abstract revoke(target: RevocationTarget, untilMs: number): Promise<void>;
  abstract isRevoked(target: RevocationTarget): Promise<boolean>;
}

/** A short, stable id of a token, so that revoked tokens are stored without the tokens themselves. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22);
}

export class MemoryRevocationStore extends RevocationStore {
  private readonly revokedUntil = new Map<string, number>();

  revoke(target: RevocationTarget, untilMs: number): Promise<void> {
    this.prune();
    for (const key of keysOf(target)) {
      this.revokedUntil.set(key, Math.max(untilMs, this.revokedUntil.get(key) ?? 0));
    }
    return Promise.resolve();
  }

  isRevoked(target: RevocationTarget): Promise<boolean> {
    const now = Date.now();
    return Promise.resolve(keysOf(target).some((key) => (this.revokedUntil.get(key) ?? 0) > now));
  }

  private prune(): void {
    const now = Date.now();
    for (const [key, until] of this.revokedUntil) if (until <= now) this.revokedUntil.delete(key);
  }
}

export function keysOf(target: RevocationTarget): string[] {
  const keys = (target.tokenFingerprints ?? []).map((fingerprint) => `token:${fingerprint}`);
  if (target.sessionId) keys.push(`session:${target.sessionId}`);
  return keys;
}
