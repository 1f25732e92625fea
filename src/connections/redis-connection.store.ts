import type { RedisClient } from '../redis/redis.service.js';
import { ConnectionStore } from './connection.store.js';
import type { ConnectionRecord } from './connection.types.js';

/**
 * Cluster view in Redis. Per instance: a hash of its connections and a hash of per-user
 * counts, both expiring unless the heartbeat refreshes them; plus a sorted set of instances
 * scored by their last heartbeat. Every key shares one hash tag so pipelines work on
 * Redis Cluster too.
 */
export class RedisConnectionStore extends ConnectionStore {
  private readonly instancesKey: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly instanceId: string,
    private readonly keyPrefix: string,
    private readonly ttlMs: number,
  ) {
    super();
    this.instancesKey = `${keyPrefix}{registry}:instances`;
  }

  async add(record: ConnectionRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(this.connectionsKey(this.instanceId), record.connectionId, JSON.stringify(record))
      .hincrby(this.usersKey(this.instanceId), record.userId, 1)
      .exec();
  }

  async update(record: ConnectionRecord): Promise<void> {
    await this.redis.hset(this.connectionsKey(this.instanceId), record.connectionId, JSON.stringify(record));
  }

  async remove(record: ConnectionRecord): Promise<void> {
    const results = await this.redis
      .multi()
      .hdel(this.connectionsKey(this.instanceId), record.connectionId)
      .hincrby(this.usersKey(this.instanceId), record.userId, -1)
      .exec();
    const remaining = results?.[1]?.[1];
    if (typeof remaining === 'number' && remaining <= 0) {
      await this.redis.hdel(this.usersKey(this.instanceId), record.userId);
    }
  }

  async replaceAll(records: ConnectionRecord[]): Promise<void> {
    const perUser = new Map<string, number>();
    for (const record of records) perUser.set(record.userId, (perUser.get(record.userId) ?? 0) + 1);
    const transaction = this.redis
      .multi()
      .del(this.connectionsKey(this.instanceId), this.usersKey(this.instanceId));
    if (records.length > 0) {
      transaction.hset(
        this.connectionsKey(this.instanceId),
        Object.fromEntries(records.map((record) => [record.connectionId, JSON.stringify(record)])),
      );
      transaction.hset(this.usersKey(this.instanceId), Object.fromEntries(perUser));
    }
    await transaction.exec();
    await this.heartbeat();
  }

  async heartbeat(): Promise<boolean> {
    const now = Date.now();
    const results = await this.redis
      .multi()
      .zadd(this.instancesKey, now, this.instanceId)
      .zremrangebyscore(this.instancesKey, '-inf', now - this.ttlMs * 10)
      .exists(this.connectionsKey(this.instanceId))
      .pexpire(this.connectionsKey(this.instanceId), this.ttlMs)
      .pexpire(this.usersKey(this.instanceId), this.ttlMs)
      .exec();
    return results?.[2]?.[1] === 1;
  }

  async countConnections(): Promise<number> {
    const instances = await this.liveInstanceIds();
    if (instances.length === 0) return 0;
    const pipeline = this.redis.pipeline();
    for (const instance of instances) pipeline.hlen(this.connectionsKey(instance));
    return sumOf(await pipeline.exec());
  }

  async countUserConnections(userId: string): Promise<number> {
    const instances = await this.liveInstanceIds();
    if (instances.length === 0) return 0;
    const pipeline = this.redis.pipeline();
    for (const instance of instances) pipeline.hget(this.usersKey(instance), userId);
    return sumOf(await pipeline.exec());
  }

  async listConnections(): Promise<ConnectionRecord[]> {
    const instances = await this.liveInstanceIds();
    if (instances.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const instance of instances) pipeline.hvals(this.connectionsKey(instance));
    const results = (await pipeline.exec()) ?? [];
    return results.flatMap(([error, values]) =>
      error || !Array.isArray(values)
        ? []
        : values.map((value) => JSON.parse(String(value)) as ConnectionRecord),
    );
  }

  async liveInstanceIds(): Promise<string[]> {
    return this.redis.zrangebyscore(this.instancesKey, Date.now() - this.ttlMs, '+inf');
  }

  async leave(): Promise<void> {
    await this.redis
      .multi()
      .zrem(this.instancesKey, this.instanceId)
      .del(this.connectionsKey(this.instanceId), this.usersKey(this.instanceId))
      .exec();
  }

  private connectionsKey(instanceId: string): string {
    return `${this.keyPrefix}{registry}:instance:${instanceId}:connections`;
  }

  private usersKey(instanceId: string): string {
    return `${this.keyPrefix}{registry}:instance:${instanceId}:users`;
  }
}

function sumOf(results: [Error | null, unknown][] | null): number {
  return (results ?? []).reduce((total, [error, value]) => (error ? total : total + (Number(value) || 0)), 0);
}
