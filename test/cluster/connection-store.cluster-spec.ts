import { Redis } from 'ioredis';
import type { ConnectionStore } from '../../src/connections/connection.store.js';
import type { ConnectionRecord } from '../../src/connections/connection.types.js';
import { MemoryConnectionStore } from '../../src/connections/memory-connection.store.js';
import { RedisConnectionStore } from '../../src/connections/redis-connection.store.js';
import { describeWithRedis, startRedis, type TestRedis } from '../support/redis-server.js';

const TTL_MS = 60_000;

function record(
  connectionId: string,
  userId: string,
  sessionId: string,
  instanceId: string,
  expiresInMs = 3_600_000,
): ConnectionRecord {
  const expiresAt = new Date(Date.now() + expiresInMs).toISOString();
  return {
    connectionId,
    sessionId,
    userId,
    roles: [],
    instanceId,
    sockets: [{ socketId: `${connectionId}/`, namespace: '/' }],
    connectedAt: new Date().toISOString(),
    expiresAt,
    tokenFingerprints: [`fp-${connectionId}`],
    tokensExpireAt: expiresAt,
    ipAddress: '127.0.0.1',
    userAgent: 'jest',
  };
}

const ids = (records: ConnectionRecord[]) => records.map((entry) => entry.connectionId).sort();

/**
 * The contract both stores keep: per-user and per-session lookups, the user's cluster-wide count
 * as each write leaves it, and a one-step leave. Instances `a` and `b` share the store.
 */
function storeContract(name: string, open: (instanceId: string) => ConnectionStore, shared: boolean): void {
  describe(name, () => {
    it('counts a user’s connections as each add and remove leaves them', async () => {
      const a = open('a');
      await a.heartbeat();
      expect(await a.add(record('c1', 'alice', 's1', 'a'))).toEqual({ userConnections: 1 });
      expect(await a.add(record('c2', 'alice', 's2', 'a'))).toEqual({ userConnections: 2 });
      expect(await a.add(record('c3', 'bob', 's3', 'a'))).toEqual({ userConnections: 1 });
      expect(await a.remove(record('c1', 'alice', 's1', 'a'))).toEqual({ userConnections: 1 });
      expect(await a.remove(record('c2', 'alice', 's2', 'a'))).toEqual({ userConnections: 0 });
      expect(await a.countUserConnections('alice')).toBe(0);
      expect(await a.countUserConnections('bob')).toBe(1);
    });

    it('looks connections up by user and by session', async () => {
      const a = open('a');
      await a.heartbeat();
      await a.add(record('c1', 'alice', 'shared', 'a'));
      await a.add(record('c2', 'alice', 'own', 'a'));
      await a.add(record('c3', 'bob', 'shared', 'a'));
      expect(ids(await a.connectionsOfUser('alice'))).toEqual(['c1', 'c2']);
      expect(ids(await a.connectionsOfSession('shared'))).toEqual(['c1', 'c3']);
      expect(await a.connectionsOfUser('nobody')).toEqual([]);
    });

    it('leaves in one step: records and index entries', async () => {
      const a = open('a');
      await a.heartbeat();
      const mine = [record('c1', 'alice', 's1', 'a'), record('c2', 'bob', 's2', 'a')];
      for (const entry of mine) await a.add(entry);
      await a.leave(mine);
      expect(await a.connectionsOfUser('alice')).toEqual([]);
      expect(await a.connectionsOfSession('s2')).toEqual([]);
      expect(await a.countConnections()).toBe(0);
    });

    if (!shared) return;

    it('sees a user across instances, and not on an instance that stopped beating', async () => {
      const a = open('a');
      const b = open('b');
      await a.heartbeat();
      await b.heartbeat();
      await a.add(record('c1', 'alice', 's1', 'a'));
      expect(await b.add(record('c2', 'alice', 's2', 'b'))).toEqual({ userConnections: 2 });
      expect(ids(await a.connectionsOfUser('alice'))).toEqual(['c1', 'c2']);
      await b.leave([]);
      expect(ids(await a.connectionsOfUser('alice'))).toEqual(['c1']);
      expect(await a.remove(record('c1', 'alice', 's1', 'a'))).toEqual({ userConnections: 0 });
    });
  });
}

storeContract('MemoryConnectionStore', (instanceId) => new MemoryConnectionStore(instanceId), false);

describeWithRedis('RedisConnectionStore (real Redis)', () => {
  let redis: TestRedis;
  let client: Redis;
  let prefix = 0;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { lazyConnect: false });
  });
  afterAll(async () => {
    client.disconnect();
    await redis.stop();
  });

  let keyPrefix = '';
  beforeEach(() => {
    prefix += 1;
    keyPrefix = `t${prefix}:`;
  });

  storeContract(
    'contract',
    (instanceId) => new RedisConnectionStore(client, instanceId, keyPrefix, TTL_MS),
    true,
  );

  it('keeps index entries no longer than the latest token of their connections', async () => {
    const store = new RedisConnectionStore(client, 'a', keyPrefix, TTL_MS);
    await store.heartbeat();
    await store.add(record('c1', 'alice', 's1', 'a', 10_000));
    await store.add(record('c2', 'alice', 's2', 'a', 20_000));
    const ttl = await client.pttl(`${keyPrefix}{registry}:user:alice`);
    expect(ttl).toBeGreaterThan(10_000);
    expect(ttl).toBeLessThanOrEqual(20_000);
    expect(await client.pttl(`${keyPrefix}{registry}:session:s1`)).toBeLessThanOrEqual(10_000);
  });

  it('drops index entries whose record is gone', async () => {
    const store = new RedisConnectionStore(client, 'a', keyPrefix, TTL_MS);
    await store.heartbeat();
    await store.add(record('c1', 'alice', 's1', 'a'));
    await client.hdel(`${keyPrefix}{registry}:instance:a:connections`, 'c1');
    expect(await store.connectionsOfUser('alice')).toEqual([]);
    expect(await client.hlen(`${keyPrefix}{registry}:user:alice`)).toBe(0);
  });
});
