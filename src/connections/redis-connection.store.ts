import type { RedisClient } from '../redis/redis.service.js';
import { ConnectionStore, type InstanceHeartbeat, type UserConnectionChange } from './connection.store.js';

/**
 * An instance's connections outlive its last heartbeat by this many TTLs: readers skip them once
 * the heartbeat is a TTL old, and Presence reads them meanwhile to find a crashed instance's users.
 */
const CONNECTIONS_KEPT_FOR_TTLS = 3;
import type { ConnectionRecord } from './connection.types.js';

/**
 * Cluster view in Redis. Per instance, a hash of its connections that expires unless the
 * heartbeat refreshes it (a while after readers stopped counting it), and a sorted set of instances scored by their last heartbeat. Per user
 * and per session, an index hash (connection id → instance id) that expires with the latest
 * token of its connections: no connection outlives its token, so an entry left by a killed
 * instance is gone by then, and is skipped (and dropped) on read before that. Every key shares
 * one hash tag so transactions work on Redis Cluster too.
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

  async add(record: ConnectionRecord): Promise<UserConnectionChange> {
    const transaction = this.redis
      .multi()
      .hset(this.connectionsKey(this.instanceId), record.connectionId, JSON.stringify(record));
    this.index(transaction, record);
    return this.userChange(transaction, record.userId);
  }

  async update(record: ConnectionRecord): Promise<void> {
    const transaction = this.redis
      .multi()
      .hset(this.connectionsKey(this.instanceId), record.connectionId, JSON.stringify(record));
    this.index(transaction, record);
    await transaction.exec();
  }

  async remove(record: ConnectionRecord): Promise<UserConnectionChange> {
    const transaction = this.redis
      .multi()
      .hdel(this.connectionsKey(this.instanceId), record.connectionId)
      .hdel(this.userKey(record.userId), record.connectionId)
      .hdel(this.sessionKey(record.sessionId), record.connectionId);
    return this.userChange(transaction, record.userId);
  }

  async replaceAll(records: ConnectionRecord[]): Promise<void> {
    const transaction = this.redis.multi().del(this.connectionsKey(this.instanceId));
    if (records.length > 0) {
      transaction.hset(
        this.connectionsKey(this.instanceId),
        Object.fromEntries(records.map((record) => [record.connectionId, JSON.stringify(record)])),
      );
    }
    for (const record of records) this.index(transaction, record);
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
      .pexpire(this.connectionsKey(this.instanceId), this.ttlMs * CONNECTIONS_KEPT_FOR_TTLS)
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
    return (await this.connectionsOfUser(userId)).length;
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

  connectionsOfUser(userId: string): Promise<ConnectionRecord[]> {
    return this.recordsIndexedAt(this.userKey(userId));
  }

  connectionsOfSession(sessionId: string): Promise<ConnectionRecord[]> {
    return this.recordsIndexedAt(this.sessionKey(sessionId));
  }

  async liveInstanceIds(): Promise<string[]> {
    return this.redis.zrangebyscore(this.instancesKey, Date.now() - this.ttlMs, '+inf');
  }

  async instanceHeartbeats(): Promise<InstanceHeartbeat[]> {
    const flat = await this.redis.zrange(this.instancesKey, 0, -1, 'WITHSCORES');
    const beats: InstanceHeartbeat[] = [];
    for (let index = 0; index + 1 < flat.length; index += 2) {
      beats.push({ instanceId: flat[index] ?? '', lastBeatAt: Number(flat[index + 1]) });
    }
    return beats;
  }

  async connectionsOfInstance(instanceId: string): Promise<ConnectionRecord[]> {
    const values = await this.redis.hvals(this.connectionsKey(instanceId));
    return values.map((value) => JSON.parse(value) as ConnectionRecord);
  }

  async leave(records: ConnectionRecord[]): Promise<void> {
    const transaction = this.redis
      .multi()
      .zrem(this.instancesKey, this.instanceId)
      .del(this.connectionsKey(this.instanceId));
    for (const record of records) {
      transaction
        .hdel(this.userKey(record.userId), record.connectionId)
        .hdel(this.sessionKey(record.sessionId), record.connectionId);
    }
    await transaction.exec();
  }

  /** Adds the record to its user's and session's index, kept until its latest token expires. */
  private index(transaction: ReturnType<RedisClient['multi']>, record: ConnectionRecord): void {
    const until = Date.parse(record.tokensExpireAt);
    for (const key of [this.userKey(record.userId), this.sessionKey(record.sessionId)]) {
      transaction
        .hset(key, record.connectionId, this.instanceId)
        .pexpireat(key, until, 'NX')
        .pexpireat(key, until, 'GT');
    }
  }

  /** Runs the write with a read of the user's index, so the count is the write's own outcome. */
  private async userChange(
    transaction: ReturnType<RedisClient['multi']>,
    userId: string,
  ): Promise<UserConnectionChange> {
    const results = await transaction
      .hgetall(this.userKey(userId))
      .zrangebyscore(this.instancesKey, Date.now() - this.ttlMs, '+inf')
      .exec();
    const entries = results?.at(-2)?.[1] as Record<string, string> | undefined;
    const live = new Set(results?.at(-1)?.[1] as string[] | undefined);
    const userConnections = Object.values(entries ?? {}).filter(
      (instance) => instance === this.instanceId || live.has(instance),
    ).length;
    return { userConnections };
  }

  /**
   * The records an index names, read from their instances' hashes. Entries whose instance is
   * dead, or whose record is gone, are dropped from the index on the way.
   */
  private async recordsIndexedAt(indexKey: string): Promise<ConnectionRecord[]> {
    const [entries, live] = await Promise.all([this.redis.hgetall(indexKey), this.liveInstanceIds()]);
    const liveInstances = new Set(live);
    const candidates = Object.entries(entries).filter(([, instance]) => liveInstances.has(instance));
    const stale = Object.keys(entries).filter(
      (connectionId) => !liveInstances.has(entries[connectionId] ?? ''),
    );
    const pipeline = this.redis.pipeline();
    for (const [connectionId, instance] of candidates)
      pipeline.hget(this.connectionsKey(instance), connectionId);
    const results = candidates.length > 0 ? ((await pipeline.exec()) ?? []) : [];
    const records: ConnectionRecord[] = [];
    results.forEach(([error, value], position) => {
      if (!error && typeof value === 'string') records.push(JSON.parse(value) as ConnectionRecord);
      else if (!error) stale.push(candidates[position]?.[0] ?? '');
    });
    if (stale.length > 0) void this.redis.hdel(indexKey, ...stale).catch(() => undefined);
    return records;
  }

  private connectionsKey(instanceId: string): string {
    return `${this.keyPrefix}{registry}:instance:${instanceId}:connections`;
  }

  private userKey(userId: string): string {
    return `${this.keyPrefix}{registry}:user:${userId}`;
  }

  private sessionKey(sessionId: string): string {
    return `${this.keyPrefix}{registry}:session:${sessionId}`;
  }
}

function sumOf(results: [Error | null, unknown][] | null): number {
  return (results ?? []).reduce((total, [error, value]) => (error ? total : total + (Number(value) || 0)), 0);
}
