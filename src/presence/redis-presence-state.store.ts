import type { RedisClient } from '../redis/redis.service.js';
import { PresenceStateStore, type LeavingUser } from './presence-state.store.js';

/** Takes a user offline only if they are still leaving: a reconnect meanwhile removed them. */
const MARK_OFFLINE = `
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  return redis.call('SREM', KEYS[1], ARGV[1])
end
return 0`;

/**
 * Presence state shared in Redis: a set of users announced online and a sorted set of leaving
 * users scored by when they left. One hash tag keeps the keys in one slot, so the script and
 * transactions work on Redis Cluster. Each instance's marker key expires unless refreshed; when
 * it is gone (Redis restarted empty, or was unreachable long enough), the instance restores its
 * users.
 */
export class RedisPresenceStateStore extends PresenceStateStore {
  private readonly onlineKey: string;
  private readonly leavingKey: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    /** How long an instance's marker lives without a refresh. */
    private readonly markerTtlMs: number,
  ) {
    super();
    this.onlineKey = `${keyPrefix}{presence}:online`;
    this.leavingKey = `${keyPrefix}{presence}:leaving`;
  }

  async markOnline(userId: string): Promise<boolean> {
    const results = await this.redis
      .multi()
      .zrem(this.leavingKey, userId)
      .sadd(this.onlineKey, userId)
      .exec();
    return results?.[1]?.[1] === 1;
  }

  async markLeaving(userId: string, leftAt: number): Promise<void> {
    await this.redis.multi().sadd(this.onlineKey, userId).zadd(this.leavingKey, leftAt, userId).exec();
  }

  async leavingSince(leftBefore: number): Promise<LeavingUser[]> {
    const upTo = Number.isFinite(leftBefore) ? leftBefore : '+inf';
    const flat = await this.redis.zrangebyscore(this.leavingKey, '-inf', upTo, 'WITHSCORES');
    const users: LeavingUser[] = [];
    for (let index = 0; index + 1 < flat.length; index += 2) {
      users.push({ userId: flat[index] ?? '', leftAt: Number(flat[index + 1]) });
    }
    return users;
  }

  async keepOnline(userId: string): Promise<void> {
    await this.redis.zrem(this.leavingKey, userId);
  }

  async markOffline(userId: string): Promise<boolean> {
    return (await this.redis.eval(MARK_OFFLINE, 2, this.onlineKey, this.leavingKey, userId)) === 1;
  }

  onlineUsers(): Promise<string[]> {
    return this.redis.smembers(this.onlineKey);
  }

  countOnline(): Promise<number> {
    return this.redis.scard(this.onlineKey);
  }

  async onlineAmong(userIds: readonly string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const members = await this.redis.smismember(this.onlineKey, ...userIds);
    return new Set(userIds.filter((_, index) => members[index] === 1));
  }

  async holdsStateOf(instanceId: string): Promise<boolean> {
    const previous = await this.redis.set(this.markerKey(instanceId), '1', 'PX', this.markerTtlMs, 'GET');
    return previous !== null;
  }

  async restore(userIds: readonly string[]): Promise<void> {
    if (userIds.length > 0) await this.redis.sadd(this.onlineKey, ...userIds);
  }

  private markerKey(instanceId: string): string {
    return `${this.keyPrefix}{presence}:instance:${instanceId}`;
  }
}
