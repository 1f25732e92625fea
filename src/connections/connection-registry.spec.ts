import type { Socket } from 'socket.io';
import type { Envelope } from '../common/envelope.js';
import { buildAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { ConnectionLifecycle } from './connection-lifecycle.js';
import { ConnectionRegistry } from './connection-registry.js';
import { ConnectionStore, type UserConnectionChange } from './connection.store.js';
import {
  SocketEndpoint,
  type CloseReason,
  type ConnectionEndpoint,
  type ConnectionRecord,
  type ConnectionState,
} from './connection.types.js';
import { MemoryConnectionStore } from './memory-connection.store.js';
import { RealtimeServer } from '../realtime/realtime-server.js';

const config = buildAppConfig(
  validateEnvironment({ NODE_ENV: 'test', JWT_SECRET: 'x', SERVER_ID: 'instance-a' }),
);

/** An endpoint of any transport, recording what it was sent and why it was closed. */
interface FakeEndpoint extends ConnectionEndpoint {
  emitted: [string, unknown][];
  closed: boolean;
  closedFor?: CloseReason;
}

function connection(
  userId: string,
  sessionId: string,
  connectionId: string,
  connectedAt = Date.now(),
): ConnectionState {
  return {
    identity: { userId, sessionId, connectionId, roles: [], expiresAt: connectedAt + 60_000 },
    token: `token-${connectionId}`,
    carriedTokens: new Map([[`fp-${connectionId}`, connectedAt + 60_000]]),
    ipAddress: '127.0.0.1',
    userAgent: 'jest',
    connectedAt,
    endpoints: new Set(),
  };
}

/** An endpoint of `state` on `namespace`; closing it drops it from its connection, as a transport does. */
function socketOf(state: ConnectionState, namespace = '/'): FakeEndpoint {
  return {
    id: `${state.identity.connectionId}${namespace}`,
    namespace,
    connection: state,
    emitted: [],
    closed: false,
    emit(event: string, notice: Envelope) {
      this.emitted.push([event, notice]);
    },
    close(reason: CloseReason) {
      this.closed = true;
      this.closedFor = reason;
      state.endpoints.delete(this);
    },
  };
}

/** A store that fails any call the test did not expect. */
class StrictStore extends ConnectionStore {
  readonly calls: string[] = [];
  constructor(private readonly heartbeatAnswers: boolean[]) {
    super();
  }
  private unexpected(name: string): never {
    throw new Error(`unexpected call: ${name}`);
  }
  add(record: ConnectionRecord): Promise<UserConnectionChange> {
    this.calls.push(`add ${record.connectionId}`);
    return Promise.resolve({ userConnections: 1 });
  }
  update(record: ConnectionRecord): Promise<void> {
    this.calls.push(`update ${record.connectionId}`);
    return Promise.resolve();
  }
  remove(record: ConnectionRecord): Promise<UserConnectionChange> {
    this.calls.push(`remove ${record.connectionId}`);
    return Promise.resolve({ userConnections: 0 });
  }
  replaceAll(records: ConnectionRecord[]): Promise<void> {
    this.calls.push(`replaceAll ${records.map((record) => record.connectionId).join(',')}`);
    return Promise.resolve();
  }
  heartbeat(): Promise<boolean> {
    this.calls.push('heartbeat');
    return Promise.resolve(this.heartbeatAnswers.shift() ?? true);
  }
  countConnections(): Promise<number> {
    return this.unexpected('countConnections');
  }
  countUserConnections(): Promise<number> {
    return this.unexpected('countUserConnections');
  }
  listConnections(): Promise<ConnectionRecord[]> {
    return this.unexpected('listConnections');
  }
  connectionsOfUser(): Promise<ConnectionRecord[]> {
    return this.unexpected('connectionsOfUser');
  }
  connectionsOfSession(): Promise<ConnectionRecord[]> {
    return this.unexpected('connectionsOfSession');
  }
  liveInstanceIds(): Promise<string[]> {
    return Promise.resolve(['instance-a']);
  }
  instanceHeartbeats(): Promise<never> {
    return this.unexpected('instanceHeartbeats');
  }
  connectionsOfInstance(): Promise<never> {
    return this.unexpected('connectionsOfInstance');
  }

  leave(records: ConnectionRecord[]): Promise<void> {
    this.calls.push(`leave ${records.map((record) => record.connectionId).join(',')}`);
    return Promise.resolve();
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('ConnectionRegistry', () => {
  let registry: ConnectionRegistry;
  let lifecycle: ConnectionLifecycle;
  let realtime: RealtimeServer;
  let events: string[];

  beforeEach(() => {
    lifecycle = new ConnectionLifecycle();
    realtime = new RealtimeServer();
    events = [];
    lifecycle.on('opened', (state) => events.push(`opened ${state.identity.connectionId}`));
    lifecycle.on('closed', (state) => events.push(`closed ${state.identity.connectionId}`));
    lifecycle.on('userConnected', (userId) => events.push(`userConnected ${userId}`));
    lifecycle.on('userDisconnected', (userId) => events.push(`userDisconnected ${userId}`));
    registry = new ConnectionRegistry(new MemoryConnectionStore('instance-a'), realtime, lifecycle, config);
  });

  it('tells the lifecycle about connections and a user’s first and last connection', async () => {
    const first = connection('alice', 's1', 'c1');
    const second = connection('alice', 's2', 'c2');
    const firstRoot = socketOf(first, '/');
    const firstChat = socketOf(first, '/chat');
    const secondRoot = socketOf(second, '/');
    for (const socket of [firstRoot, firstChat, secondRoot]) registry.register(socket);
    await flush();
    for (const socket of [firstRoot, firstChat, secondRoot]) {
      registry.unregister(socket);
      await flush();
    }
    expect(events).toEqual([
      'opened c1',
      'userConnected alice',
      'opened c2',
      'closed c1',
      'closed c2',
      'userDisconnected alice',
    ]);
  });

  it('finds a user’s and a session’s connections without listing the cluster', async () => {
    const store = new MemoryConnectionStore('instance-a');
    store.listConnections = () => Promise.reject(new Error('a per-user lookup must not list everything'));
    const indexed = new ConnectionRegistry(store, realtime, lifecycle, config);
    indexed.register(socketOf(connection('alice', 's1', 'c1')));
    indexed.register(socketOf(connection('bob', 's2', 'c2')));
    await flush();
    expect((await indexed.connectionsOfUser('alice')).map((record) => record.connectionId)).toEqual(['c1']);
    expect((await indexed.connectionsOfSession('s2')).map((record) => record.connectionId)).toEqual(['c2']);
    expect((await indexed.listSessions({ page: 1, limit: 10, userId: 'bob' })).totalCount).toBe(1);
  });

  it('leaves the cluster view in one step at shutdown, not one write per closing socket', async () => {
    const store = new StrictStore([true]);
    const closing = new ConnectionRegistry(store, realtime, lifecycle, config);
    const sockets = ['c1', 'c2', 'c3'].map((id) => socketOf(connection('alice', `s-${id}`, id)));
    for (const socket of sockets) closing.register(socket);
    await flush();
    realtime.beforeApplicationShutdown();
    for (const socket of sockets) {
      closing.unregister(socket);
    }
    await closing.onApplicationShutdown();
    expect(store.calls).toEqual(['add c1', 'add c2', 'add c3', 'leave c1,c2,c3']);
  });

  it('counts a connection once across its namespaces and lists its namespaces', async () => {
    const alice = connection('alice', 's1', 'c1');
    registry.register(socketOf(alice, '/'));
    registry.register(socketOf(alice, '/chat'));
    await flush();
    expect(await registry.countConnections()).toBe(1);
    const { sessions } = await registry.listSessions({ page: 1, limit: 10 });
    expect(sessions).toEqual([
      expect.objectContaining({
        connectionId: 'c1',
        sessionId: 's1',
        userId: 'alice',
        instanceId: 'instance-a',
        sockets: [
          { socketId: 'c1/', namespace: '/' },
          { socketId: 'c1/chat', namespace: '/chat' },
        ],
        tokenFingerprints: ['fp-c1'],
      }),
    ]);
  });

  it('removes a connection when its last socket leaves', async () => {
    const alice = connection('alice', 's1', 'c1');
    const root = socketOf(alice, '/');
    const chat = socketOf(alice, '/chat');
    registry.register(root);
    registry.register(chat);
    registry.unregister(root);
    await flush();
    expect(await registry.countConnections()).toBe(1);
    registry.unregister(chat);
    await flush();
    expect(await registry.countConnections()).toBe(0);
    expect(registry.localConnectionCount).toBe(0);
  });

  it('pages and filters sessions in connection order', async () => {
    const start = Date.now();
    for (const [index, user] of ['alice', 'bob', 'alice', 'carol'].entries()) {
      registry.register(socketOf(connection(user, `s${index}`, `c${index}`, start + index)));
    }
    await flush();
    const firstPage = await registry.listSessions({ page: 1, limit: 3 });
    expect(firstPage.totalCount).toBe(4);
    expect(firstPage.sessions.map((session) => session.connectionId)).toEqual(['c0', 'c1', 'c2']);
    const secondPage = await registry.listSessions({ page: 2, limit: 3 });
    expect(secondPage.sessions.map((session) => session.connectionId)).toEqual(['c3']);
    const alices = await registry.listSessions({ page: 1, limit: 10, userId: 'alice' });
    expect(alices.sessions.map((session) => session.connectionId)).toEqual(['c0', 'c2']);
    expect(await registry.countUserConnections('alice')).toBe(2);
  });

  it('disconnects a user’s connections but the spared one, sending the notice first', () => {
    const older = socketOf(connection('alice', 's1', 'c1'));
    const newer = socketOf(connection('alice', 's2', 'c2'));
    const bob = socketOf(connection('bob', 's3', 'c3'));
    for (const socket of [older, newer, bob]) registry.register(socket);
    const notice = { type: 'session:replaced', data: { reason: 'replaced', by: 'c2' }, timestamp: 'now' };
    registry.disconnect({
      userId: 'alice',
      exceptConnectionId: 'c2',
      reason: 'replaced',
      notice: { event: 'session:replaced', payload: notice },
    });
    expect(older.emitted).toEqual([['session:replaced', notice]]);
    expect(older.closed).toBe(true);
    expect(older.closedFor).toBe('replaced');
    expect(newer.closed).toBe(false);
    expect(bob.closed).toBe(false);
  });

  it('disconnects every socket of a session', () => {
    const state = connection('alice', 'shared', 'c1');
    const root = socketOf(state, '/');
    const chat = socketOf(state, '/chat');
    const other = socketOf(connection('alice', 'other', 'c2'));
    for (const socket of [root, chat, other]) registry.register(socket);
    registry.disconnect({ sessionId: 'shared', reason: 'revoked' });
    expect([root.closed, chat.closed, other.closed]).toEqual([true, true, false]);
  });

  it('holds connections of any transport: counted, listed with their namespace, kicked with the reason', async () => {
    const plain = connection('alice', 's1', 'c1');
    const door = socketOf(plain, '/ws/events');
    const io = socketOf(connection('bob', 's2', 'c2'), '/');
    registry.register(door);
    registry.register(io);
    await flush();
    expect(plain.endpoints).toEqual(new Set([door]));
    expect(await registry.countConnections()).toBe(2);
    expect(await registry.countUserConnections('alice')).toBe(1);
    const { sessions } = await registry.listSessions({ page: 1, limit: 10, userId: 'alice' });
    expect(sessions.map((session) => session.sockets)).toEqual([
      [{ socketId: 'c1/ws/events', namespace: '/ws/events' }],
    ]);
    const notice = { type: 'auth:revoked', data: { reason: 'revoked', sessionId: 's1' }, timestamp: 'now' };
    registry.disconnect({
      sessionId: 's1',
      reason: 'revoked',
      notice: { event: 'auth:revoked', payload: notice },
    });
    expect(door.emitted).toEqual([['auth:revoked', notice]]);
    expect([door.closed, door.closedFor, io.closed]).toEqual([true, 'revoked', false]);
    registry.unregister(door);
    await flush();
    expect(await registry.countConnections()).toBe(1);
    expect(events).toEqual([
      'opened c1',
      'userConnected alice',
      'opened c2',
      'userConnected bob',
      'closed c1',
      'userDisconnected alice',
    ]);
  });

  it('wraps a Socket.IO socket once: notices are emitted as they are, a close disconnects it', () => {
    const emitted: unknown[][] = [];
    const closes: unknown[] = [];
    const fake = {
      id: 'socket-1',
      nsp: { name: '/chat' },
      emit: (...args: unknown[]) => emitted.push(args),
      disconnect: (close: unknown) => closes.push(close),
    };
    const state = connection('alice', 's1', 'c1');
    const endpoint = new SocketEndpoint(fake as unknown as Socket, state);
    expect([endpoint.id, endpoint.namespace, endpoint.connection]).toEqual(['socket-1', '/chat', state]);
    const notice = { type: 'auth:expired', data: { reason: 'token expired' }, timestamp: 'now' };
    endpoint.emit('auth:expired', notice);
    endpoint.close();
    expect(emitted).toEqual([['auth:expired', notice]]);
    expect(closes).toEqual([true]);
  });

  it('re-publishes its connections when the heartbeat finds them lost', async () => {
    const store = new StrictStore([false]);
    const strict = new ConnectionRegistry(store, new RealtimeServer(), new ConnectionLifecycle(), config);
    strict.register(socketOf(connection('alice', 's1', 'c1')));
    strict.onApplicationBootstrap();
    await flush();
    await flush();
    await strict.onApplicationShutdown();
    expect(store.calls).toEqual(['add c1', 'heartbeat', 'replaceAll c1', 'leave c1']);
  });

  it('rewrites its view after writes were missed, even when the store kept its keys', async () => {
    const store = new StrictStore([true]);
    store.add = () => Promise.reject(new Error('Redis is down'));
    const registryOverOutage = new ConnectionRegistry(
      store,
      new RealtimeServer(),
      new ConnectionLifecycle(),
      config,
    );
    registryOverOutage.register(socketOf(connection('alice', 's1', 'c1')));
    await flush();
    registryOverOutage.onApplicationBootstrap();
    await flush();
    await flush();
    await registryOverOutage.onApplicationShutdown();
    expect(store.calls).toEqual(['heartbeat', 'replaceAll c1', 'leave c1']);
  });

  it('keeps serving when the store fails', async () => {
    const failing = new MemoryConnectionStore('instance-a');
    failing.add = () => Promise.reject(new Error('Redis is down'));
    const resilient = new ConnectionRegistry(
      failing,
      new RealtimeServer(),
      new ConnectionLifecycle(),
      config,
    );
    expect(() => resilient.register(socketOf(connection('alice', 's1', 'c1')))).not.toThrow();
    await flush();
    expect(resilient.localConnectionCount).toBe(1);
  });
});
