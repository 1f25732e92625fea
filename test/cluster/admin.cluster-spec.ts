import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import {
  AdminEvent,
  type AckResponse,
  type AdminClientEvents,
  type AdminServerEvents,
  type AdminStats,
  type AdminUserStatus,
  type BroadcastResult,
  type DisconnectUserResult,
  type Envelope,
  type PublishedEvent,
} from '../../src/contracts/index.js';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { ackData, stopStarted } from '../support/cluster.js';
import { client, closeAll, connected, refused } from '../support/clients.js';
import { closeClients, EventsClient, type Frame } from '../support/events-websocket-client.js';
import { ms, pollUntil } from '../support/polling.js';
import { describeWithRedis, startRedis } from '../support/redis-server.js';
import { signToken } from '../support/tokens.js';

type AdminSocket = Socket<AdminServerEvents, AdminClientEvents>;
type RunningRedis = Awaited<ReturnType<typeof startRedis>>;

const PRESENCE_TTL_MS = 3000;
const ADMIN_STATS_MS = 250;
const ENV = {
  PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
  ADMIN_STATS_MS: String(ADMIN_STATS_MS),
  REDIS_KEY_PREFIX: 'admin-cluster-test:',
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_EVENTS_PER_S: '0',
  RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
  RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
};
const START_TIMEOUT_MS = 120_000;
const CASE_TIMEOUT_MS = 60_000;
/** What crosses instances travels through Redis: well below this on a busy machine. */
const DELIVERY_LIMIT_MS = 5000;
/** Each instance publishes its counters every TTL/3; two beats and a push, with room to spare. */
const STATS_SETTLE_MS = PRESENCE_TTL_MS + 5000;
/** The budget: gone from the stats within PRESENCE_TTL_MS of the SIGKILL, plus one push and a late timer. */
const SIGKILL_BUDGET_MS = PRESENCE_TTL_MS + ADMIN_STATS_MS + 1000;

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

/** Everything a socket receives, its disconnect included, in order; awaitable. */
class Received {
  readonly items: { event: string; payload: unknown; at: number }[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(socket: Socket) {
    socket.onAny((event: string, payload: unknown) => this.push(event, payload));
    socket.on('disconnect', (reason) => this.push('disconnect', reason));
  }

  of<T>(event: string): T[] {
    return this.items.filter((item) => item.event === event).map((item) => item.payload as T);
  }

  order(): string[] {
    return this.items.map((item) => item.event).filter((event) => event !== AdminEvent.Stats);
  }

  /** The first `event` satisfying `matches` whose index is at least `from`, received or to come. */
  waitFor<T>(
    event: string,
    matches: (payload: T) => boolean = () => true,
    timeoutMs = DELIVERY_LIMIT_MS,
    from = 0,
  ): Promise<{ payload: T; at: number }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.items
          .slice(from)
          .find((item) => item.event === event && matches(item.payload as T));
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve({ payload: found.payload as T, at: found.at });
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const last = this.items.filter((item) => item.event === event).at(-1);
        reject(
          new Error(`No matching "${event}" within ${timeoutMs} ms; last: ${JSON.stringify(last?.payload)}`),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The first `stats` push from now on satisfying `accept`. */
  async stats(
    accept: (stats: AdminStats) => boolean,
    timeoutMs = STATS_SETTLE_MS,
  ): Promise<{ stats: AdminStats; at: number }> {
    const { payload, at } = await this.waitFor<Envelope<'stats', AdminStats>>(
      AdminEvent.Stats,
      (envelope) => accept(envelope.data),
      timeoutMs,
      this.items.length,
    );
    return { stats: payload.data, at };
  }

  private push(event: string, payload: unknown): void {
    this.items.push({ event, payload, at: performance.now() });
    for (const waiter of [...this.waiters]) waiter();
  }
}

describeWithRedis('admin across a cluster of instances', () => {
  let redis: RunningRedis | undefined;
  let a: AppProcess;
  let b: AppProcess;
  let c: AppProcess;
  const starting: Promise<AppProcess>[] = [];
  const sockets: Socket[] = [];
  const doors: EventsClient[] = [];
  const report: string[] = [];
  const adminId = newUser('admin');

  async function open(
    instance: AppProcess,
    namespace: string,
    token: string,
  ): Promise<{ socket: Socket; received: Received }> {
    const socket = client(instance.url, namespace, { auth: { token } });
    sockets.push(socket);
    const received = new Received(socket);
    await connected(socket);
    return { socket, received };
  }

  async function openAdmin(instance: AppProcess): Promise<{ socket: AdminSocket; received: Received }> {
    const device = await open(instance, '/admin', signToken({ sub: adminId, roles: ['admin'] }));
    await device.received.waitFor(AdminEvent.Stats);
    return { socket: device.socket, received: device.received };
  }

  async function openDoor(instance: AppProcess, token: string): Promise<EventsClient> {
    const { client: door } = await EventsClient.open(instance.port, { query: token });
    doors.push(door);
    return door;
  }

  /** Waits until `instance`'s cluster view holds the user's connections (their writes landed in Redis). */
  async function viewShows(instance: AppProcess, userId: string, connections: number): Promise<void> {
    await pollUntil(
      async () => {
        const response = await request(instance.url)
          .get(`/api/admin/users/${userId}/status`)
          .set({ Authorization: `Bearer ${signToken({ sub: adminId, roles: ['admin'] })}` });
        return (response.body as { data?: AdminUserStatus }).data?.connections;
      },
      (count) => count === connections,
      { what: `${userId}'s connections in the view of ${instance.serverId}`, timeoutMs: DELIVERY_LIMIT_MS },
    );
  }

  beforeAll(async () => {
    redis = await startRedis();
    const start = (serverId: string) => {
      const instance = startAppProcess({ serverId, redisUrl: redis!.url, env: ENV });
      starting.push(instance);
      return instance;
    };
    [a, b, c] = await Promise.all([start('admin-a'), start('admin-b'), start('admin-c')]);
  }, START_TIMEOUT_MS);

  afterEach(async () => {
    await closeAll(sockets);
    await closeClients(doors);
  });

  afterAll(async () => {
    await closeAll(sockets);
    await stopStarted(starting);
    await redis?.stop();
    if (report.length > 0) console.info(`Admin across a cluster:\n  ${report.join('\n  ')}`);
  }, START_TIMEOUT_MS);

  it(
    'counts every instance in the stats: servers, connections by namespace and door, distinct users',
    async () => {
      const admin = await openAdmin(a);
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      await open(a, '/chat', signToken({ sub: alice }));
      await open(b, '/presence', signToken({ sub: alice }));
      await openDoor(b, signToken({ sub: bob }));

      const settled = await admin.received.stats(
        ({ global }) => global.totalServers === 3 && global.totalConnections === 4 && global.totalUsers === 3,
      );
      // Once every instance has published again (a full beat later), the count still holds.
      const since = Date.parse(
        settled.stats.servers.reduce(
          (latest, server) => ((server.updatedAt ?? '') > latest ? (server.updatedAt ?? '') : latest),
          '',
        ),
      );
      const { stats } = await admin.received.stats(({ servers }) =>
        servers.every((server) => Date.parse(server.updatedAt ?? '') > since),
      );
      expect(stats.global).toEqual({
        totalServers: 3,
        totalConnections: 4,
        // alice is on A and on B: the instances' sketches count her once.
        totalUsers: 3,
        byNamespace: { '/admin': 1, '/chat': 1, '/presence': 1, '/ws/events': 1 },
      });
      expect(stats.server).toEqual(expect.objectContaining({ serverId: 'admin-a', connections: 2 }));
      expect(
        stats.servers.map(({ serverId, connections, users }) => ({ serverId, connections, users })),
      ).toEqual([
        { serverId: 'admin-a', connections: 2, users: 2 },
        { serverId: 'admin-b', connections: 2, users: 2 },
        { serverId: 'admin-c', connections: 0, users: 0 },
      ]);
      for (const server of stats.servers) {
        expect(server.updatedAt).not.toBeNull();
        expect(server.rssBytes).toBeGreaterThan(0);
      }

      // The same over REST, from B.
      const response = await request(b.url)
        .get('/api/admin/stats')
        .set({ Authorization: `Bearer ${signToken({ sub: adminId, roles: ['admin'] })}` });
      expect(response.status).toBe(200);
      const fromB = (response.body as { data: AdminStats }).data;
      expect(fromB.server.serverId).toBe('admin-b');
      expect(fromB.global.totalServers).toBe(3);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "disconnect-user on A closes the user's sockets and plain WebSockets on B, each told why first",
    async () => {
      const admin = await openAdmin(a);
      const watcher = await openAdmin(b);
      const carol = newUser('carol');
      const token = signToken({ sub: carol });
      const onB = await open(b, '/chat', token);
      const door = await openDoor(b, token);
      const onA = await open(a, '/presence', token);
      await viewShows(a, carol, 3);

      const result = ackData<DisconnectUserResult>(
        await admin.socket.emitWithAck(AdminEvent.DisconnectUser, { userId: carol, reason: 'Flooding' }),
      );
      expect(result).toEqual({
        userId: carol,
        disconnected: 3,
        revokedSessions: [],
        auditId: expect.any(Number),
      });

      for (const device of [onB, onA]) {
        await device.received.waitFor('disconnect');
        expect(device.received.order().slice(-2)).toEqual(['system', 'disconnect']);
        expect(device.received.of<Envelope<'system', unknown>>('system')[0]?.data).toEqual({
          message: 'Flooding',
          level: 'warning',
        });
      }
      expect(await door.closed).toEqual({ code: 1008, reason: 'DISCONNECTED' });
      expect(door.received()).toEqual([
        { type: 'system', payload: { message: 'Flooding', level: 'warning' } },
      ]);
      // An admin on B hears what an admin did on A.
      const { payload: event } = await watcher.received.waitFor<PublishedEvent>(
        AdminEvent.Event,
        (e) => e.type === 'admin.user.disconnected' && e.userId === carol,
      );
      expect(event.data).toEqual(
        expect.objectContaining({ by: adminId, reason: 'Flooding', connections: 3 }),
      );
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'disconnect-user with revoke on A: the token is refused on B at once',
    async () => {
      const admin = await openAdmin(a);
      const dave = newUser('dave');
      const token = signToken({ sub: dave, sid: `sid-${randomUUID()}` });
      const onB = await open(b, '/chat', token);
      await viewShows(a, dave, 1);

      const result = ackData<DisconnectUserResult>(
        await admin.socket.emitWithAck(AdminEvent.DisconnectUser, { userId: dave, revoke: true }),
      );
      expect(result.revokedSessions).toHaveLength(1);
      await onB.received.waitFor('disconnect');
      expect(onB.received.order().slice(-3)).toEqual(['system', 'auth:revoked', 'disconnect']);

      for (const instance of [b, c]) {
        const again = client(instance.url, '/chat', { auth: { token } });
        sockets.push(again);
        expect((await refused(again)).message).toBe('AUTH_REVOKED');
      }
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'a broadcast on A reaches every connection on B once, on either door',
    async () => {
      const admin = await openAdmin(a);
      const erin = newUser('erin');
      const first = await open(b, '/', signToken({ sub: erin }));
      const door = await openDoor(b, signToken({ sub: newUser('frank') }));

      const result = ackData<BroadcastResult>(
        await admin.socket.emitWithAck(AdminEvent.Broadcast, {
          level: 'warning',
          message: 'Failover at noon',
        }),
      );
      // From the cluster view: connections of the earlier cases may still be leaving it.
      expect(result.targetedConnections).toBeGreaterThanOrEqual(3);

      const notice = { message: 'Failover at noon', level: 'warning' };
      const { payload } = await first.received.waitFor<Envelope<'system', unknown>>('system');
      expect(payload.data).toEqual(notice);
      const frames: Frame[] = [];
      while (!frames.some((frame) => frame.type === 'system')) frames.push(await door.next());
      expect(frames.filter((frame) => frame.type === 'system')).toEqual([
        { type: 'system', payload: notice },
      ]);
      // Round trips behind it: nothing more came.
      ackData((await first.socket.emitWithAck('ping', {})) as AckResponse<unknown>);
      expect(first.received.of('system')).toHaveLength(1);
      expect((await door.untilPong()).filter((frame) => frame.type === 'system')).toEqual([]);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    `drops a SIGKILLed instance from global.totalServers within PRESENCE_TTL_MS (${PRESENCE_TTL_MS} ms)`,
    async () => {
      const admin = await openAdmin(a);
      const gina = newUser('gina');
      await open(c, '/chat', signToken({ sub: gina }));
      await admin.received.stats(
        ({ global, servers }) =>
          global.totalServers === 3 &&
          servers.some((server) => server.serverId === 'admin-c' && server.connections === 1),
      );

      const killedAt = performance.now();
      await c.kill('SIGKILL');
      const { stats, at } = await admin.received.stats(
        ({ global }) => global.totalServers === 2,
        SIGKILL_BUDGET_MS + 5000,
      );
      const elapsed = at - killedAt;
      report.push(
        `SIGKILLed instance gone from the stats after ${ms(elapsed)} (PRESENCE_TTL_MS ${PRESENCE_TTL_MS})`,
      );
      expect(stats.servers.map((server) => server.serverId)).toEqual(['admin-a', 'admin-b']);
      expect(stats.global.byNamespace['/chat']).toBeUndefined();
      expect(elapsed).toBeLessThan(SIGKILL_BUDGET_MS);
    },
    CASE_TIMEOUT_MS,
  );
});
