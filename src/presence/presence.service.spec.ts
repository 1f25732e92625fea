import { jest } from '@jest/globals';
import type { ModuleRef } from '@nestjs/core';
import { Server } from 'socket.io';
import { InMemoryPresenceRepository } from '../../test/support/memory-presence.repository.js';
import { RecordingAdapter, type Broadcast } from '../../test/support/recording-adapter.js';
import { ChatMembership, type MemberChat } from '../chat/chat-membership.js';
import { systemClock } from '../common/clock.js';
import { buildAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { ConnectionLifecycle } from '../connections/connection-lifecycle.js';
import type { ConnectionRegistry } from '../connections/connection-registry.js';
import type { InstanceHeartbeat } from '../connections/connection.store.js';
import type { ConnectionRecord } from '../connections/connection.types.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { PRESENCE_NAMESPACE, PresenceEvent, type PresenceChange } from './presence.events.js';
import { MemoryPresenceStateStore } from './presence-state.store.js';
import { PresenceService, type PresenceViewer } from './presence.service.js';

const GRACE_MS = 4000;
const TTL_MS = 10000;
/** The upkeep tick for this grace (a quarter of it, at most a second). */
const TICK_MS = 1000;

function configWith(env: Record<string, string> = {}) {
  return buildAppConfig(
    validateEnvironment({
      NODE_ENV: 'test',
      JWT_SECRET: 'unit-test-secret',
      PRESENCE_GRACE_MS: String(GRACE_MS),
      PRESENCE_TTL_MS: String(TTL_MS),
      PRESENCE_BATCH_MS: '0',
      ...env,
    }),
  );
}

/**
 * The registry as presence reads it: connection counts per user, and the heartbeats of other
 * instances (this one, `instance-a`, always beats).
 */
class FakeRegistry {
  readonly counts = new Map<string, number>();
  others: InstanceHeartbeat[] = [];
  readonly published = new Map<string, ConnectionRecord[]>();
  serverId = 'instance-a';

  countUserConnections(userId: string): Promise<number> {
    return Promise.resolve(this.counts.get(userId) ?? 0);
  }
  /** This instance's connections: the counts, all held here. */
  connectionsOfUser(userId: string): Promise<ConnectionRecord[]> {
    return Promise.resolve(
      Array.from(
        { length: this.counts.get(userId) ?? 0 },
        () => ({ userId, instanceId: this.serverId }) as ConnectionRecord,
      ),
    );
  }
  async liveInstanceIds(): Promise<string[]> {
    return (await this.instanceHeartbeats())
      .filter((beat) => beat.lastBeatAt >= Date.now() - TTL_MS)
      .map((beat) => beat.instanceId);
  }
  instanceHeartbeats(): Promise<InstanceHeartbeat[]> {
    return Promise.resolve([{ instanceId: this.serverId, lastBeatAt: Date.now() }, ...this.others]);
  }
  connectionsOfInstance(instanceId: string): Promise<ConnectionRecord[]> {
    return Promise.resolve(this.published.get(instanceId) ?? []);
  }
  localUserIds(): string[] {
    return [...this.counts.keys()];
  }
}

class FakeMembership extends ChatMembership {
  constructor(private readonly chats: MemberChat[]) {
    super();
  }
  readonly lookups: string[][] = [];
  smallChatsOf(userIds: readonly string[], maxMembers: number): Promise<Map<string, MemberChat[]>> {
    this.lookups.push([...userIds]);
    return Promise.resolve(
      new Map(
        userIds.map((userId) => [
          userId,
          this.chats.filter((chat) => chat.memberIds.includes(userId) && chat.memberIds.length <= maxMembers),
        ]),
      ),
    );
  }
  sharingAChat(userId: string, others: readonly string[]): Promise<string[]> {
    const mine = this.chats
      .filter((chat) => chat.memberIds.includes(userId))
      .flatMap((chat) => chat.memberIds);
    return Promise.resolve(others.filter((other) => mine.includes(other)));
  }
  audienceOf(chatIds: readonly string[]) {
    return { namespace: '/chat', audience: { rooms: chatIds.map((chatId) => `chat:${chatId}`) } };
  }
}

const alice: PresenceViewer = { userId: 'alice', roles: [] };
const bob: PresenceViewer = { userId: 'bob', roles: [] };
const admin: PresenceViewer = { userId: 'root', roles: ['admin'] };

describe('PresenceService', () => {
  let io: Server;
  let lifecycle: ConnectionLifecycle;
  let repository: InMemoryPresenceRepository;
  let state: MemoryPresenceStateStore;
  let registry: FakeRegistry;
  const services: PresenceService[] = [];

  function start(
    env: Record<string, string> = {},
    membership: ChatMembership | null = null,
  ): PresenceService {
    const realtime = new RealtimeServer();
    realtime.attach(io);
    const moduleRef = {
      get: () => {
        if (!membership) throw new Error('no chat module');
        return membership;
      },
    } as unknown as ModuleRef;
    const service = new PresenceService(
      repository,
      state,
      registry as unknown as ConnectionRegistry,
      lifecycle,
      realtime,
      configWith(env),
      systemClock,
      moduleRef,
    );
    service.onModuleInit();
    services.push(service);
    return service;
  }

  const broadcasts = (namespace = PRESENCE_NAMESPACE): Broadcast[] =>
    (io.of(namespace).adapter as RecordingAdapter).broadcasts;

  /** Lets the listeners' promises and what they emit settle, timers included. */
  const settle = (ms = 0) => jest.advanceTimersByTimeAsync(ms);

  async function connect(userId: string): Promise<void> {
    registry.counts.set(userId, (registry.counts.get(userId) ?? 0) + 1);
    if (registry.counts.get(userId) === 1) lifecycle.emit('userConnected', userId);
    await settle();
  }

  async function disconnect(userId: string): Promise<void> {
    const left = (registry.counts.get(userId) ?? 1) - 1;
    if (left === 0) registry.counts.delete(userId);
    else registry.counts.set(userId, left);
    if (left === 0) lifecycle.emit('userDisconnected', userId);
    await settle();
  }

  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate'] });
    io = new Server({ adapter: RecordingAdapter });
    lifecycle = new ConnectionLifecycle();
    repository = new InMemoryPresenceRepository();
    state = new MemoryPresenceStateStore();
    registry = new FakeRegistry();
  });

  afterEach(() => {
    for (const service of services.splice(0)) service.onModuleDestroy();
    jest.useRealTimers();
  });

  it('tells followers, co-members on /presence and their chats on /chat when a user comes online', async () => {
    start({}, new FakeMembership([{ chatId: 'c1', memberIds: ['alice', 'bob'] }]));
    await connect('alice');

    expect(broadcasts()).toEqual([
      {
        event: PresenceEvent.Online,
        data: { userId: 'alice', status: 'online', lastSeenAt: null },
        to: ['presence:alice', 'user:bob'],
        except: ['user:alice'],
      },
    ]);
    expect(broadcasts('/chat')).toEqual([
      expect.objectContaining({ event: PresenceEvent.Online, to: ['chat:c1'], except: ['user:alice'] }),
    ]);
  });

  /** Connections that open together, before anything they cause is told. */
  function connectAtOnce(userIds: string[]): void {
    for (const userId of userIds) {
      registry.counts.set(userId, 1);
      lifecycle.emit('userConnected', userId);
    }
  }

  it('tells arrivals that come together in one batch, reading storage once for it', async () => {
    const membership = new FakeMembership([{ chatId: 'c1', memberIds: ['alice', 'bob', 'carol', 'dave'] }]);
    start({}, membership);
    await repository.setStatus('dave', 'invisible');
    await connect('alice');
    connectAtOnce(['bob', 'carol', 'dave']);
    await settle();

    expect(broadcasts('/chat').map((broadcast) => broadcast.data)).toEqual([
      { userId: 'alice', status: 'online', lastSeenAt: null },
      { userId: 'bob', status: 'online', lastSeenAt: null },
      { userId: 'carol', status: 'online', lastSeenAt: null },
    ]);
    expect(membership.lookups).toEqual([['alice'], ['bob', 'carol']]);
  });

  it('gathers the changes of PRESENCE_BATCH_MS into one batch, told to none who arrived after them', async () => {
    const membership = new FakeMembership([{ chatId: 'c1', memberIds: ['alice', 'bob', 'carol'] }]);
    start({ PRESENCE_BATCH_MS: '20' }, membership);
    connectAtOnce(['alice']);
    await settle(5);
    connectAtOnce(['bob']);
    await settle(5);
    connectAtOnce(['carol']);
    await settle(9);
    expect(broadcasts()).toEqual([]);

    await settle(1);
    expect(membership.lookups).toEqual([['alice', 'bob', 'carol']]);
    expect(broadcasts('/chat').map(({ data, except }) => [(data as PresenceChange).userId, except])).toEqual([
      ['alice', ['user:alice', 'user:bob', 'user:carol']],
      ['bob', ['user:bob', 'user:carol']],
      ['carol', ['user:carol']],
    ]);
    expect(broadcasts().map(({ data, except }) => [(data as PresenceChange).userId, except])).toEqual([
      ['alice', ['user:alice', 'user:bob', 'user:carol']],
      ['bob', ['user:bob', 'user:carol']],
      ['carol', ['user:carol']],
    ]);
  });

  it('tells a change to users who arrived before it in the same batch', async () => {
    const membership = new FakeMembership([{ chatId: 'c1', memberIds: ['alice', 'bob'] }]);
    const service = start({ PRESENCE_BATCH_MS: '20' }, membership);
    await connect('alice');
    await settle(20);
    connectAtOnce(['bob']);
    await service.setStatus(alice, 'busy');
    await settle(20);

    expect(
      broadcasts('/chat').map(({ event, data, except }) => [event, (data as PresenceChange).userId, except]),
    ).toEqual([
      [PresenceEvent.Online, 'alice', ['user:alice']],
      [PresenceEvent.Online, 'bob', ['user:bob']],
      [PresenceEvent.Status, 'alice', ['user:alice']],
    ]);
  });

  it('tells an arrival followed by a status change in the same batch as one user:online', async () => {
    const service = start();
    connectAtOnce(['alice']);
    await service.setStatus(alice, 'busy');
    await settle();

    const told = broadcasts().filter((broadcast) => broadcast.to.includes('presence:alice'));
    expect(told.map(({ event, data }) => ({ event, data }))).toEqual([
      { event: PresenceEvent.Online, data: { userId: 'alice', status: 'busy', lastSeenAt: null } },
    ]);
  });

  it('leaves co-members of chats above PRESENCE_CHAT_MAX_MEMBERS, and everyone without the chat module, alone', async () => {
    start(
      { PRESENCE_CHAT_MAX_MEMBERS: '2' },
      new FakeMembership([{ chatId: 'big', memberIds: ['alice', 'bob', 'carol'] }]),
    );
    await connect('alice');
    expect(broadcasts().map((broadcast) => broadcast.to)).toEqual([['presence:alice']]);
    expect(broadcasts('/chat')).toEqual([]);
  });

  it('says nothing when the last connection comes back within the grace period', async () => {
    start();
    await connect('alice');
    await disconnect('alice');
    await settle(GRACE_MS - TICK_MS);
    await connect('alice');
    await settle(GRACE_MS * 2);

    expect(broadcasts().map((broadcast) => broadcast.event)).toEqual([PresenceEvent.Online]);
    expect(repository.writes).toEqual([]);
  });

  it('goes offline once after the grace, writing lastSeenAt once, however many instances race', async () => {
    start();
    start();
    await connect('alice');
    const leftAt = Date.now();
    await disconnect('alice');
    await settle(GRACE_MS - TICK_MS);
    expect(broadcasts().map((broadcast) => broadcast.event)).toEqual([PresenceEvent.Online]);

    await settle(TICK_MS * 3);
    const offline = broadcasts().filter((broadcast) => broadcast.event === PresenceEvent.Offline);
    expect(offline).toEqual([
      expect.objectContaining({
        data: { userId: 'alice', status: 'offline', lastSeenAt: new Date(leftAt).toISOString() },
      }),
    ]);
    expect(repository.writes).toEqual([`lastSeen alice ${new Date(leftAt).toISOString()}`]);
    expect(await services[0]!.stateFor(bob, 'alice')).toEqual({
      userId: 'alice',
      status: 'offline',
      online: false,
      lastSeenAt: new Date(leftAt).toISOString(),
    });
  });

  it('keeps an invisible user offline to others, with the moment they went invisible, and themselves informed', async () => {
    const service = start();
    await connect('alice');
    const wentInvisible = new Date().toISOString();
    const own = await service.setStatus(alice, 'invisible');
    await settle();

    expect(own).toEqual({
      userId: 'alice',
      status: 'invisible',
      online: true,
      connections: 1,
      lastSeenAt: wentInvisible,
    });
    expect(broadcasts()).toHaveLength(3);
    expect(broadcasts().slice(1)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          event: PresenceEvent.Status,
          data: { userId: 'alice', status: 'invisible', lastSeenAt: wentInvisible },
          to: ['user:alice'],
        }),
        expect.objectContaining({
          event: PresenceEvent.Offline,
          data: { userId: 'alice', status: 'offline', lastSeenAt: wentInvisible },
          to: ['presence:alice'],
        }),
      ]),
    );
    expect(await service.stateFor(bob, 'alice')).toEqual({
      userId: 'alice',
      status: 'offline',
      online: false,
      lastSeenAt: wentInvisible,
    });
    expect(await service.stateFor(admin, 'alice')).toEqual({
      userId: 'alice',
      status: 'offline',
      online: false,
      lastSeenAt: wentInvisible,
    });
    expect((await service.statusOf('alice')).status).toBe('invisible');

    // Leaving and coming back while invisible betrays nothing, and writes no new last-seen time.
    const writes = repository.writes.length;
    const told = broadcasts().length;
    await disconnect('alice');
    await settle(GRACE_MS + TICK_MS * 2);
    await connect('alice');
    expect(broadcasts()).toHaveLength(told);
    expect(repository.writes).toHaveLength(writes);

    await service.setStatus(alice, 'busy');
    await settle();
    expect(broadcasts().slice(told)).toContainEqual(
      expect.objectContaining({
        event: PresenceEvent.Online,
        data: { userId: 'alice', status: 'busy', lastSeenAt: wentInvisible },
      }),
    );
  });

  it('takes a crashed instance’s users offline at once, unless they are connected elsewhere', async () => {
    start();
    await connect('alice');
    await connect('bob');
    const diedAt = Date.now();
    registry.others = [{ instanceId: 'instance-b', lastBeatAt: diedAt }];
    registry.published.set('instance-b', [
      { userId: 'carol' } as ConnectionRecord,
      { userId: 'bob' } as ConnectionRecord,
    ]);
    await state.markOnline('carol');
    await settle(TTL_MS + TICK_MS * 2);

    const offline = broadcasts().filter((broadcast) => broadcast.event === PresenceEvent.Offline);
    expect(offline.map((broadcast) => broadcast.data)).toEqual([
      { userId: 'carol', status: 'offline', lastSeenAt: new Date(diedAt).toISOString() },
    ]);
  });

  it('after Redis was unreachable, takes online users whose connections closed meanwhile offline', async () => {
    start();
    await connect('alice');
    // Her connection closed while Redis was down: the registry lost it, no one saw her leave.
    registry.counts.delete('alice');
    const leavingSince = state.leavingSince.bind(state);
    state.leavingSince = () => {
      state.leavingSince = leavingSince;
      return Promise.reject(new Error('Redis is down'));
    };
    await settle(TICK_MS);
    expect(broadcasts().map((broadcast) => broadcast.event)).toEqual([PresenceEvent.Online]);

    await settle(TTL_MS + GRACE_MS + TICK_MS * 3);
    expect(broadcasts().map((broadcast) => broadcast.event)).toEqual([
      PresenceEvent.Online,
      PresenceEvent.Offline,
    ]);
  });

  it('keeps transitions it could not store and stores them once it can', async () => {
    start();
    const markOnline = state.markOnline.bind(state);
    state.markOnline = () => {
      state.markOnline = markOnline;
      return Promise.reject(new Error('Redis is down'));
    };
    await connect('alice');
    expect(broadcasts()).toEqual([]);

    await settle(TICK_MS);
    await settle(1); // told by the timer the tick that stored it set
    expect(broadcasts().map((broadcast) => broadcast.event)).toEqual([PresenceEvent.Online]);
  });

  it('hands its users over when it shuts down: those without another connection go offline', async () => {
    const stopping = start();
    start(); // the instance that stays, and takes alice offline
    await connect('alice');
    await connect('bob');
    await stopping.beforeApplicationShutdown();
    // Its sockets closed with the process; bob has a connection elsewhere.
    registry.counts.delete('alice');
    await settle(GRACE_MS + TICK_MS * 2);

    const offline = broadcasts().filter((broadcast) => broadcast.event === PresenceEvent.Offline);
    expect(offline.map((broadcast) => (broadcast.data as { userId: string }).userId)).toEqual(['alice']);
  });

  it('lets only co-members follow and query under PRESENCE_VISIBILITY=shared-chats', async () => {
    const service = start(
      { PRESENCE_VISIBILITY: 'shared-chats' },
      new FakeMembership([{ chatId: 'c1', memberIds: ['alice', 'bob'] }]),
    );
    await connect('carol');

    expect(await service.followable(alice, ['bob', 'carol', 'alice'])).toEqual(['bob', 'alice']);
    expect(await service.followable(admin, ['carol'])).toEqual(['carol']);
    expect(await service.stateFor(alice, 'carol')).toEqual({
      userId: 'carol',
      status: 'offline',
      online: false,
      lastSeenAt: null,
    });
    expect((await service.stateFor(admin, 'carol')).online).toBe(true);
  });
});
