import { AppError } from '../common/errors.js';
import type { RedisClient } from '../redis/redis.service.js';
import { keysOf, MemoryRevocationStore, RevocationStore, type RevocationTarget } from './revocation.store.js';

/**
 * Revocations shared by the cluster. While Redis cannot be reached, the revocations this
 * instance made itself still hold, from the local copy.
 */
export class RedisRevocationStore extends RevocationStore {
  private readonly localCopy = new MemoryRevocationStore();

  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
  ) {
    super();
  }

  async revoke(target: RevocationTarget, untilMs: number): Promise<void> {
    await this.localCopy.revoke(target, untilMs);
    const transaction = this.redis.multi();
    for (const key of keysOf(target)) transaction.set(this.redisKey(key), '1', 'PXAT', untilMs);
    try {
      await transaction.exec();
    } catch {
      throw AppError.unavailable('Redis is unavailable: the revocation holds on this instance only');
    }
  }

  async isRevoked(target: RevocationTarget): Promise<boolean> {
    const keys = keysOf(target);
    if (keys.length === 0) return false;
    try {
      return (await this.redis.exists(...keys.map((key) => this.redisKey(key)))) > 0;
    } catch {
      return this.localCopy.isRevoked(target);
    }
  }

  private redisKey(key: string): string {
    return `${this.keyPrefix}{revoked}:${key}`;
  }
}
