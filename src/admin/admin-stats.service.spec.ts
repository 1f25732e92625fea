import { jest } from '@jest/globals';
import { buildAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { ConnectionLifecycle } from '../connections/connection-lifecycle.js';
import type { ConnectionRegistry } from '../connections/connection-registry.js';
import { RealtimeCounters } from '../realtime/realtime-counters.js';
import { ServerEvents } from '../realtime/server-events.js';
import { AdminStatsService } from './admin-stats.service.js';
import type { InstanceStats } from './admin.events.js';
import { InstanceStatsStore, type PublishedStats, type SketchUpdate } from './instance-stats.store.js';

const TTL_MS = 3000;
const BEAT_MS = TTL_MS / 3;
const config = buildAppConfig(
  validateEnvironment({
    NODE_ENV: 'test',
    JWT_SECRET: 'x',
    SERVER_ID: 'instance-a',
    PRESENCE_TTL_MS: String(TTL_MS),
  }),
);

/** What the stats read of the registry: counts it keeps, never a scan. */
class FakeRegistry {
  readonly serverId = 'instance-a';
  localConnectionCount = 0;
  localUserCount = 0;
  endpoints: Record<string, number> = {};
  users: string[] = [];
  live: string[] | Error = ['instance-a'];

  localEndpointCounts(): Record<string, number> {
    return { ...this.endpoints };
  }

  localUserIds(): string[] {
    return [...this.users];
  }

  liveInstanceIds(): Promise<string[]> {
    return this.live instanceof Error ? Promise.reject(this.live) : Promise.resolve([...this.live]);
  }
}

/** Other instances' records, and what this one published. */
class FakeStore extends InstanceStatsStore {
  readonly records = new Map<string, PublishedStats>();
  readonly published: { stats: PublishedStats; sketch: SketchUpdate }[] = [];
  estimate: number | null = null;
  readsOf: string[][] = [];

  publish(stats: PublishedStats, sketch: SketchUpdate): Promise<void> {
    this.published.push({ stats, sketch });
    return Promise.resolve();
  }

  read(instanceIds: readonly string[]): Promise<Map<string, PublishedStats>> {
    this.readsOf.push([...instanceIds]);
    return Promise.resolve(
      new Map(instanceIds.flatMap((id) => (this.records.has(id) ? [[id, this.records.get(id)!]] : []))),
    );
  }

  countUsers(): Promise<number | null> {
    return Promise.resolve(this.estimate);
  }
}

function record(serverId: string, overrides: Partial<InstanceStats> = {}): PublishedStats {
  return {
    serverId,
    connections: 0,
    users: 0,
    uptimeS: 10,
    rssBytes: 1000,
    heapUsedBytes: 500,
    eventLoopLagMs: 0.5,
    byNamespace: {},
    rates: { eventsInPerS: 1, eventsOutPerS: 2, handshakesPerS: 0.5, refusedHandshakesPerS: 0 },
    updatedAt: '2030-01-01T00:00:00.000Z',
    usersGeneration: 1,
    ...overrides,
  };
}

describe('AdminStatsService', () => {
  let registry: FakeRegistry;
  let store: FakeStore;
  let counters: RealtimeCounters;
  let lifecycle: ConnectionLifecycle;
  let service: AdminStatsService;

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
    registry = new FakeRegistry();
    store = new FakeStore();
    counters = new RealtimeCounters(new ServerEvents());
    lifecycle = new ConnectionLifecycle();
    service = new AdminStatsService(
      registry as unknown as ConnectionRegistry,
      lifecycle,
      counters,
      store,
      config,
    );
  });

  afterEach(() => {
    service.onApplicationShutdown();
    jest.useRealTimers();
  });

  it('reads this instance live and the others from their records, summing the cluster', async () => {
    Object.assign(registry, {
      localConnectionCount: 3,
      localUserCount: 2,
      endpoints: { '/chat': 2, '/ws/events': 1 },
    });
    registry.live = ['instance-c', 'instance-a', 'instance-b'];
    store.records.set(
      'instance-b',
      record('instance-b', { connections: 5, users: 4, byNamespace: { '/chat': 5 } }),
    );
    store.estimate = 5;

    const stats = await service.current();

    expect(store.readsOf).toEqual([['instance-b', 'instance-c']]);
    expect(stats.server).toEqual({
      serverId: 'instance-a',
      connections: 3,
      uptimeS: expect.any(Number),
      rssBytes: expect.any(Number),
      heapUsedBytes: expect.any(Number),
      eventLoopLagMs: 0,
    });
    expect(
      stats.servers.map(({ serverId, connections, users, updatedAt }) => ({
        serverId,
        connections,
        users,
        updatedAt,
      })),
    ).toEqual([
      { serverId: 'instance-a', connections: 3, users: 2, updatedAt: '2030-01-01T00:00:00.000Z' },
      { serverId: 'instance-b', connections: 5, users: 4, updatedAt: '2030-01-01T00:00:00.000Z' },
      // Live, not published yet.
      { serverId: 'instance-c', connections: 0, users: 0, updatedAt: null },
    ]);
    expect(stats.global).toEqual({
      totalServers: 3,
      totalConnections: 8,
      totalUsers: 5,
      byNamespace: { '/chat': 7, '/ws/events': 1 },
    });
    expect(stats.rates).toEqual({
      eventsInPerS: 1,
      eventsOutPerS: 2,
      handshakesPerS: 0.5,
      refusedHandshakesPerS: 0,
    });
    expect(JSON.stringify(stats)).not.toContain('usersGeneration');
  });

  it.each([
    ['an estimate within the bounds', 5, 5],
    ['an estimate above the sum of the instances', 99, 6],
    ['an estimate below the largest instance', 1, 4],
    ['no sketch to read', null, 6],
  ])('bounds the distinct users by the instances’ own counts: %s', async (_case, estimate, expected) => {
    registry.localUserCount = 2;
    registry.live = ['instance-a', 'instance-b'];
    store.records.set('instance-b', record('instance-b', { users: 4 }));
    store.estimate = estimate;
    expect((await service.current()).global.totalUsers).toBe(expected);
  });

  it('counts one instance exactly, without a sketch', async () => {
    registry.localUserCount = 7;
    store.estimate = 1;
    expect((await service.current()).global).toEqual(
      expect.objectContaining({ totalServers: 1, totalUsers: 7 }),
    );
  });

  it('shows this instance alone while the cluster view cannot be read', async () => {
    registry.live = new Error('Redis is down');
    registry.localConnectionCount = 1;
    const stats = await service.current();
    expect(stats.global).toEqual(expect.objectContaining({ totalServers: 1, totalConnections: 1 }));
    expect(stats.servers.map((server) => server.serverId)).toEqual(['instance-a']);
  });

  it('publishes on each beat its rates since the last beat, and its new users for the sketch', async () => {
    registry.users = ['alice'];
    service.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(0);
    expect(store.published).toHaveLength(1);
    expect(store.published[0]?.sketch.users).toEqual(['alice']);

    counters.eventsIn += 30;
    counters.eventsOut += 60;
    counters.handshakesAccepted += 3;
    counters.handshakesRefused += 1;
    lifecycle.emit('opened', { identity: { userId: 'bob' } } as never);
    await jest.advanceTimersByTimeAsync(BEAT_MS);

    const second = store.published[1];
    expect(second?.stats.rates).toEqual({
      eventsInPerS: 30,
      eventsOutPerS: 60,
      handshakesPerS: 3,
      refusedHandshakesPerS: 1,
    });
    // Same sketch generation: only the arrival is added.
    expect(second?.sketch).toEqual({ generation: store.published[0]?.sketch.generation, users: ['bob'] });

    await jest.advanceTimersByTimeAsync(BEAT_MS);
    expect(store.published[2]?.stats.rates.eventsInPerS).toBe(0);
    expect(store.published[2]?.sketch.users).toEqual([]);
  });

  it('starts a new sketch of the users here every minute', async () => {
    registry.users = ['alice'];
    service.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(0);
    registry.users = ['carol', 'dave'];
    await jest.advanceTimersByTimeAsync(60_000);
    const generations = new Set(store.published.map((published) => published.sketch.generation));
    expect(generations.size).toBe(2);
    const fresh = store.published.find(
      (published) => published.sketch.generation !== store.published[0]?.sketch.generation,
    );
    expect(fresh?.sketch.users).toEqual(['carol', 'dave']);
  });
});

describe('RealtimeCounters', () => {
  it('counts outbound packets that carry an event, and nothing else', () => {
    const counters = new RealtimeCounters(new ServerEvents());
    for (const packet of [
      { type: 'message', data: '2/chat,["message:new",{}]' },
      { type: 'message', data: '51-["file",{"_placeholder":true,"num":0}]' },
      { type: 'message', data: '30[{"ok":true}]' },
      { type: 'message', data: '0/admin,{"sid":"x"}' },
      { type: 'message', data: Buffer.from('binary attachment') },
      { type: 'ping' },
    ]) {
      counters.countOutbound(packet);
    }
    expect(counters.eventsOut).toBe(2);
  });

  it('counts admitted and refused handshakes from what the server says happened', () => {
    const serverEvents = new ServerEvents();
    const counters = new RealtimeCounters(serverEvents);
    serverEvents.emit({ type: 'session.created', userId: 'alice', data: {} });
    serverEvents.emit({
      type: 'authentication.login.failed',
      address: '10.0.0.1',
      data: { code: 'FORBIDDEN' },
    });
    serverEvents.emit({ type: 'security.origin.refused', address: '10.0.0.1', data: {} });
    serverEvents.emit({
      type: 'security.rate_limit.exceeded',
      address: '10.0.0.1',
      data: { limit: 'handshake' },
    });
    serverEvents.emit({
      type: 'security.rate_limit.exceeded',
      address: '10.0.0.1',
      data: { limit: 'events' },
    });
    serverEvents.emit({ type: 'session.revoked', userId: 'alice', data: {} });
    expect({ accepted: counters.handshakesAccepted, refused: counters.handshakesRefused }).toEqual({
      accepted: 1,
      refused: 3,
    });
    counters.onModuleDestroy();
    serverEvents.emit({ type: 'session.created', userId: 'bob', data: {} });
    expect(counters.handshakesAccepted).toBe(1);
  });
});
