import { randomUUID } from 'node:crypto';
import { Manager, type Socket } from 'socket.io-client';
import request from 'supertest';
import {
  AdminEvent,
  type AckResponse,
  type AdminClientEvents,
  type AdminServerEvents,
  type AdminStats,
  type AdminUserStatus,
  type AuditEntry,
  type AuditPage,
  type BroadcastResult,
  type ConnectionsPage,
  type DisconnectUserResult,
  type Envelope,
  type PublishedEvent,
  type RevokeSessionResult,
  type SystemNotice,
  type UsersPage,
} from '../../src/contracts/index.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, refused } from '../support/clients.js';
import { closeClients, EventsClient, type Frame } from '../support/events-websocket-client.js';
import { pollUntil } from '../support/polling.js';
import { unauthorizedBody } from '../support/rest-errors.js';
import { signToken } from '../support/tokens.js';

type AdminSocket = Socket<AdminServerEvents, AdminClientEvents>;
type Failure = { ok: false; error: { code: string; message: string; details?: unknown } };
type Response = { status: number; body: unknown };

const ADMIN_STATS_MS = 200;
/** The heartbeat (and so the rates' window) is a third of it. */
const PRESENCE_TTL_MS = 1500;
const TEST_ENV = {
  ADMIN_STATS_MS: String(ADMIN_STATS_MS),
  PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_EVENTS_PER_S: '0',
  RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
  RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
};
const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$|^::1$/;

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const tokenOf = (userId: string, roles: string[] = [], sid?: string) =>
  signToken({ sub: userId, roles, ...(sid === undefined ? {} : { sid }) });
const dataOf = <T>(response: { body: unknown }) => (response.body as { data: T }).data;

function expectOk<T>(ack: unknown): T {
  const reply = ack as AckResponse<T>;
  if (!reply.ok) throw new Error(`Expected success, got ${JSON.stringify(reply.error)}`);
  return reply.data;
}

function expectFailure(ack: unknown, code: string, field?: string): void {
  expect(ack).toEqual({ ok: false, error: expect.objectContaining({ code, message: expect.any(String) }) });
  if (field !== undefined) {
    expect((ack as Failure).error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ field })]),
    );
  }
}

function expectRestError(response: Response, status: number, code: string, field?: string): void {
  expect({ status: response.status, body: response.body }).toEqual({
    status,
    body: expect.objectContaining({ statusCode: status, code, message: expect.any(String) }),
  });
  if (field !== undefined) {
    expect((response.body as { details?: unknown }).details).toEqual(
      expect.arrayContaining([expect.objectContaining({ field })]),
    );
  }
}

/** Everything a socket receives, its disconnect included, in order; a test awaits what is to come. */
class Received {
  readonly items: { event: string; payload: unknown }[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(socket: Socket) {
    socket.onAny((event: string, payload: unknown) => this.push(event, payload));
    socket.on('disconnect', (reason) => this.push('disconnect', reason));
  }

  of<T>(event: string): T[] {
    return this.items.filter((item) => item.event === event).map((item) => item.payload as T);
  }

  /** The names received, in order (`stats` left out: it comes on its own clock). */
  order(): string[] {
    return this.items.map((item) => item.event).filter((event) => event !== AdminEvent.Stats);
  }

  waitFor<T>(event: string, matches: (payload: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.of<T>(event).find(matches);
        if (found === undefined) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const seen = this.items.filter((item) => item.event !== AdminEvent.Stats);
        reject(new Error(`No matching "${event}" within ${timeoutMs} ms; received ${JSON.stringify(seen)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The published event of `type` (admins receive them as `event`). */
  event(type: string, matches: (event: PublishedEvent) => boolean = () => true): Promise<PublishedEvent> {
    return this.waitFor<PublishedEvent>(AdminEvent.Event, (event) => event.type === type && matches(event));
  }

  /** The first `stats` push from the `skip`th on (by default: from now on) satisfying `accept`. */
  stats(
    accept: (stats: AdminStats) => boolean = () => true,
    timeoutMs = 5000,
    skip = this.of(AdminEvent.Stats).length,
  ): Promise<AdminStats> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.of<Envelope<'stats', AdminStats>>(AdminEvent.Stats)
          .slice(skip)
          .find((envelope) => accept(envelope.data));
        if (found === undefined) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found.data);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const last = this.of<Envelope<'stats', AdminStats>>(AdminEvent.Stats).at(-1);
        reject(new Error(`No matching stats within ${timeoutMs} ms; last: ${JSON.stringify(last?.data)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  private push(event: string, payload: unknown): void {
    this.items.push({ event, payload });
    for (const waiter of [...this.waiters]) waiter();
  }
}

interface Device<S extends Socket = Socket> {
  socket: S;
  received: Received;
}

describe('admin (e2e)', () => {
  let running: RunningApp;
  const sockets: Socket[] = [];
  const doors: EventsClient[] = [];
  const managers: Manager[] = [];
  const adminId = newUser('admin');
  const adminBearer = { Authorization: `Bearer ${tokenOf(adminId, ['admin'])}` };

  const http = () => request(running.app.getHttpServer());

  beforeAll(async () => {
    running = await startApp(TEST_ENV);
  });
  afterEach(async () => {
    await closeAll(sockets);
    await closeClients(doors);
    for (const manager of managers.splice(0)) manager.engine?.close();
    // The server lets go of closed sockets a moment after their clients: counts start from zero.
    await pollUntil(connectionCount, (count) => count === 0, { what: 'connections left', timeoutMs: 5000 });
  });
  afterAll(() => running.close());

  async function connectionCount(): Promise<number> {
    const response = await http().get('/api/sessions/count').set(adminBearer);
    return dataOf<{ activeSessionsCount: number }>(response).activeSessionsCount;
  }

  async function open(namespace: string, token: string): Promise<Device> {
    const socket = client(running.url, namespace, { auth: { token } });
    sockets.push(socket);
    const received = new Received(socket);
    await connected(socket);
    return { socket, received };
  }

  /** An admin socket, connected, with its first `stats` in. */
  async function openAdmin(
    userId = adminId,
    token = tokenOf(userId, ['admin']),
  ): Promise<Device<AdminSocket>> {
    const device = (await open('/admin', token)) as Device<AdminSocket>;
    await device.received.waitFor(AdminEvent.Stats);
    return device;
  }

  async function openDoor(token: string): Promise<EventsClient> {
    const { client: door } = await EventsClient.open(running.port, { query: token });
    doors.push(door);
    return door;
  }

  function ask(device: Device, event: string, ...args: unknown[]): Promise<unknown> {
    return device.socket.emitWithAck(event, ...args);
  }

  async function auditLog(query = ''): Promise<AuditEntry[]> {
    const response = await http().get(`/api/admin/audit${query}`).set(adminBearer);
    expect(response.status).toBe(200);
    return dataOf<AuditPage>(response).entries;
  }

  /** A round trip on an admin socket: anything sent to it before has arrived once this answers. */
  async function barrier(device: Device): Promise<void> {
    expectOk(await ask(device, AdminEvent.GetStats));
    expect(device.socket.connected).toBe(true);
  }

  /** The door frames up to a `pong`, without the `pong`. */
  const doorFrames = (door: EventsClient): Promise<Frame[]> => door.untilPong();

  describe('the handshake', () => {
    it('admits an admin: authenticated, then stats at once', async () => {
      const { socket, received } = await openAdmin();
      expect(socket.connected).toBe(true);
      expect(received.order().slice(0, 1)).toEqual(['authenticated']);
      const [first] = received.of<Envelope<'stats', AdminStats>>(AdminEvent.Stats);
      expect(first).toEqual({
        type: 'stats',
        data: expect.any(Object),
        timestamp: expect.stringMatching(ISO_TIMESTAMP),
      });
    });

    it.each([
      ['a user without a role', [] as string[]],
      ['a service', ['service']],
    ])('refuses %s with FORBIDDEN', async (_who, roles) => {
      const socket = client(running.url, '/admin', { auth: { token: tokenOf(newUser('user'), roles) } });
      sockets.push(socket);
      const error = await refused(socket);
      expect(error.message).toBe('FORBIDDEN');
      expect(error.data).toEqual({ code: 'FORBIDDEN', message: expect.any(String) });
    });

    it('refuses a handshake without a token with AUTH_MISSING', async () => {
      const socket = client(running.url, '/admin');
      sockets.push(socket);
      expect((await refused(socket)).message).toBe('AUTH_MISSING');
    });

    it('answers FORBIDDEN to the events of a socket whose refreshed token lost the role; it lives', async () => {
      const sid = `sid-${randomUUID()}`;
      const device = await openAdmin(adminId, tokenOf(adminId, ['admin'], sid));
      expectOk(await ask(device, 'auth:refresh', { token: tokenOf(adminId, [], sid) }));
      for (const [event, payload] of [
        [AdminEvent.GetStats, {}],
        [AdminEvent.DisconnectUser, { userId: 'nobody' }],
        [AdminEvent.Broadcast, { level: 'info', message: 'never sent' }],
        [AdminEvent.RevokeSession, { sessionId: 'nothing' }],
      ] as const) {
        expectFailure(await ask(device, event, payload), 'FORBIDDEN');
      }
      expect(device.socket.connected).toBe(true);
      expect((await auditLog('?limit=200')).filter((entry) => entry.target === 'nobody')).toEqual([]);
    });
  });

  describe('stats', () => {
    it('counts this instance: connections by namespace and door, users, process figures', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      await open('/chat', tokenOf(alice));
      await open('/presence', tokenOf(alice));
      await openDoor(tokenOf(bob));
      const admin = await openAdmin();

      const stats = expectOk<AdminStats>(await ask(admin, AdminEvent.GetStats));
      const { server } = stats;
      expect(server).toEqual({
        serverId: expect.any(String),
        connections: 4,
        uptimeS: expect.any(Number),
        rssBytes: expect.any(Number),
        heapUsedBytes: expect.any(Number),
        eventLoopLagMs: expect.any(Number),
      });
      expect(server.rssBytes).toBeGreaterThan(server.heapUsedBytes);
      expect(stats.global).toEqual({
        totalServers: 1,
        totalConnections: 4,
        totalUsers: 3,
        byNamespace: { '/chat': 1, '/presence': 1, '/ws/events': 1, '/admin': 1 },
      });
      expect(stats.servers).toEqual([
        {
          ...server,
          users: 3,
          byNamespace: stats.global.byNamespace,
          rates: expect.any(Object),
          updatedAt: expect.stringMatching(ISO_TIMESTAMP),
        },
      ]);
      expect(stats.rates).toEqual({
        eventsInPerS: expect.any(Number),
        eventsOutPerS: expect.any(Number),
        handshakesPerS: expect.any(Number),
        refusedHandshakesPerS: expect.any(Number),
      });
    });

    it(`pushes stats every ADMIN_STATS_MS (${ADMIN_STATS_MS} ms), following connections as they come and go`, async () => {
      const admin = await openAdmin();
      const carol = newUser('carol');
      const extra = await open('/chat', tokenOf(carol));
      const grown = await admin.received.stats((stats) => stats.global.byNamespace['/chat'] === 1);
      expect(grown.global.totalUsers).toBe(2);

      const started = performance.now();
      await admin.received.stats();
      await admin.received.stats();
      expect(performance.now() - started).toBeLessThan(ADMIN_STATS_MS * 2 + 1000);

      extra.socket.close();
      const shrunk = await admin.received.stats((stats) => stats.global.byNamespace['/chat'] === undefined);
      expect(shrunk.global).toEqual(expect.objectContaining({ totalConnections: 1, totalUsers: 1 }));
    });

    it('rates traffic from cheap counters: events in and out, handshakes admitted and refused', async () => {
      const admin = await openAdmin();
      // Rates are per heartbeat: each activity shows in the push of the beat it fell in.
      const since = admin.received.of(AdminEvent.Stats).length;
      const user = await open('/', tokenOf(newUser('dave')));
      for (let index = 0; index < 20; index += 1) expectOk(await ask(user, 'ping', {}));
      const refusedSocket = client(running.url, '/admin', { auth: { token: tokenOf(newUser('eve')) } });
      sockets.push(refusedSocket);
      await refused(refusedSocket);

      const seen = (accept: (rates: AdminStats['rates']) => boolean) =>
        admin.received.stats(({ rates }) => accept(rates), 5000, since);
      await seen((rates) => rates.handshakesPerS > 0);
      await seen((rates) => rates.eventsInPerS >= 10);
      await seen((rates) => rates.refusedHandshakesPerS > 0);
      const busy = await seen((rates) => rates.eventsOutPerS > 0);
      expect(busy.servers[0]?.rates).toEqual(busy.rates);
    });

    it('answers admin:stats with an ack, like a push', async () => {
      const admin = await openAdmin();
      const stats = expectOk<AdminStats>(await ask(admin, AdminEvent.GetStats));
      expect(Object.keys(stats).sort()).toEqual(['global', 'rates', 'server', 'servers']);
    });
  });

  describe('the event stream', () => {
    const publish = async (body: Record<string, unknown>) => {
      const response = await http()
        .post('/api/events')
        .set({ Authorization: `Bearer ${tokenOf(newUser('service'), ['service'])}` })
        .send(body);
      expect(response.status).toBe(202);
    };

    it("hears everyone's admin.*, security.*, session.* and system.* events, and nothing else", async () => {
      const admin = await openAdmin();
      const frank = newUser('frank');
      await open('/chat', tokenOf(frank));
      await admin.received.event('session.created', (event) => event.userId === frank);

      await publish({ type: 'security.suspicious_activity', userId: frank, data: { reason: 'new device' } });
      await publish({ type: 'security.probe', data: {} });
      await publish({ type: 'system.maintenance.scheduled', broadcast: true, data: { at: 'soon' } });
      await publish({ type: 'admin.user.created', userId: frank, data: {} });
      await publish({ type: 'chat.archived', userId: frank, data: {} });
      await publish({ type: 'authentication.login.success', userId: frank, data: {} });
      await publish({ type: 'system.marker', data: {} });
      await admin.received.event('system.marker');

      expect(admin.received.of<PublishedEvent>(AdminEvent.Event).map((event) => event.type)).toEqual([
        'session.created',
        'security.suspicious_activity',
        'security.probe',
        'system.maintenance.scheduled',
        'admin.user.created',
        'system.marker',
      ]);
    });
  });

  describe('admin:disconnect-user', () => {
    it('closes every connection of the user, socket and door alike, each told the reason first', async () => {
      const admin = await openAdmin();
      const grace = newUser('grace');
      const token = tokenOf(grace);
      const chat = await open('/chat', token);
      const presence = await open('/presence', token);
      const door = await openDoor(token);
      const bystander = await open('/chat', tokenOf(newUser('heidi')));

      const result = expectOk<DisconnectUserResult>(
        await ask(admin, AdminEvent.DisconnectUser, { userId: grace, reason: 'Spamming the lobby' }),
      );
      expect(result).toEqual({
        userId: grace,
        disconnected: 3,
        revokedSessions: [],
        auditId: expect.any(Number),
      });

      const notice = {
        type: 'system',
        data: { message: 'Spamming the lobby', level: 'warning' },
        timestamp: expect.any(String),
      };
      for (const device of [chat, presence]) {
        await device.received.waitFor('disconnect');
        expect(device.received.order().slice(-2)).toEqual(['system', 'disconnect']);
        expect(device.received.of('system')).toEqual([notice]);
        expect(device.received.of('disconnect')).toEqual(['io server disconnect']);
      }
      expect(await door.closed).toEqual({ code: 1008, reason: 'DISCONNECTED' });
      expect(door.received()).toEqual([
        { type: 'system', payload: { message: 'Spamming the lobby', level: 'warning' } },
      ]);
      expect(bystander.socket.connected).toBe(true);
      expect(bystander.received.of('system')).toEqual([]);

      // Not revoked: the same token connects again at once.
      await open('/chat', token);

      const event = await admin.received.event('admin.user.disconnected', (e) => e.userId === grace);
      expect(event.data).toEqual({
        by: adminId,
        reason: 'Spamming the lobby',
        revoked: false,
        connections: 3,
        auditId: result.auditId,
      });
      const [entry] = await auditLog('?limit=1');
      expect(entry).toEqual({
        id: result.auditId,
        actorId: adminId,
        action: 'user.disconnected',
        target: grace,
        reason: 'Spamming the lobby',
        details: { revoke: false, connections: 3 },
        address: expect.stringMatching(LOOPBACK),
        via: 'socket',
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
      });
    });

    it('with revoke: true, refuses the tokens the user holds, so an immediate reconnect fails', async () => {
      const admin = await openAdmin();
      const ivan = newUser('ivan');
      const sid = `sid-${randomUUID()}`;
      const sessionToken = tokenOf(ivan, [], sid);
      // Without a `sid`, the connection is its own session: the token itself is refused.
      const plainToken = tokenOf(ivan);
      const withSession = await open('/chat', sessionToken);
      const plain = await open('/presence', plainToken);
      const door = await openDoor(plainToken);

      const result = expectOk<DisconnectUserResult>(
        await ask(admin, AdminEvent.DisconnectUser, { userId: ivan, revoke: true }),
      );
      expect(result.disconnected).toBe(3);
      expect(result.revokedSessions).toHaveLength(3);
      expect(result.revokedSessions).toContain(sid);

      for (const device of [withSession, plain]) {
        await device.received.waitFor('disconnect');
        expect(device.received.order().slice(-3)).toEqual(['system', 'auth:revoked', 'disconnect']);
        expect(device.received.of<Envelope<'system', SystemNotice>>('system')[0]?.data).toEqual({
          message: expect.any(String),
          level: 'warning',
        });
      }
      expect(await door.closed).toEqual({ code: 1008, reason: 'AUTH_REVOKED' });
      expect(door.received().map((frame) => frame.type)).toEqual(['system', 'auth:revoked']);

      for (const token of [sessionToken, plainToken]) {
        const again = client(running.url, '/chat', { auth: { token } });
        sockets.push(again);
        expect((await refused(again)).message).toBe('AUTH_REVOKED');
        const rest = await http()
          .get('/api/sessions/me')
          .set({ Authorization: `Bearer ${token}` });
        expect(rest.status).toBe(401);
      }
      expect(await EventsClient.refusedAfterUpgrade(running.port, { query: plainToken })).toEqual(
        expect.objectContaining({ code: 1008, reason: 'AUTH_REVOKED' }),
      );
      // A new sign-in (a new token) is the user's to make.
      await open('/chat', tokenOf(ivan, [], `sid-${randomUUID()}`));

      await admin.received.event('session.revoked', (event) => event.sessionId === sid);
      const event = await admin.received.event('admin.user.disconnected', (e) => e.userId === ivan);
      expect(event.data).toEqual(expect.objectContaining({ revoked: true, connections: 3 }));
      const [entry] = await auditLog('?limit=1');
      expect(entry).toEqual(
        expect.objectContaining({
          action: 'user.disconnected',
          target: ivan,
          reason: null,
          details: { revoke: true, connections: 3, sessions: expect.arrayContaining([sid]) },
        }),
      );
    });

    it('answers a user with no connection: nothing closed, still audited', async () => {
      const admin = await openAdmin();
      const ghost = newUser('ghost');
      const result = expectOk<DisconnectUserResult>(
        await ask(admin, AdminEvent.DisconnectUser, { userId: ghost }),
      );
      expect(result).toEqual({
        userId: ghost,
        disconnected: 0,
        revokedSessions: [],
        auditId: expect.any(Number),
      });
      expect((await auditLog('?limit=1'))[0]).toEqual(expect.objectContaining({ target: ghost }));
    });
  });

  describe('admin:broadcast', () => {
    it('sends system { message, level, title } once to every connection, whatever its namespaces or door', async () => {
      const admin = await openAdmin();
      const judyToken = tokenOf(newUser('judy'));
      // One connection, two namespaces (the same token: one connection to the server).
      const manager = new Manager(running.url, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      managers.push(manager);
      const main = manager.socket('/', { auth: { token: judyToken } });
      const mainReceived = new Received(main);
      await connected(main);
      const chat = manager.socket('/chat', { auth: { token: judyToken } });
      const chatReceived = new Received(chat);
      await connected(chat);
      sockets.push(main, chat);
      const other = await open('/presence', tokenOf(newUser('ken')));
      const door = await openDoor(tokenOf(newUser('leo')));

      const result = expectOk<BroadcastResult>(
        await ask(admin, AdminEvent.Broadcast, {
          level: 'critical',
          title: 'Maintenance',
          message: 'Down at 22:00',
        }),
      );
      expect(result).toEqual({ targetedConnections: 4, auditId: expect.any(Number) });

      const notice = { message: 'Down at 22:00', level: 'critical', title: 'Maintenance' };
      // Each connection's packets arrive in order: after these answers, the broadcast is in.
      expectOk(await main.emitWithAck('ping', {}));
      expectOk(await ask(other, 'presence:query', { userIds: [] }));
      await barrier(admin);
      const doorSystem = (await doorFrames(door)).filter((frame) => frame.type === 'system');

      expect([...mainReceived.of('system'), ...chatReceived.of('system')]).toEqual([
        { type: 'system', data: notice, timestamp: expect.stringMatching(ISO_TIMESTAMP) },
      ]);
      expect(other.received.of('system')).toEqual([expect.objectContaining({ data: notice })]);
      expect(admin.received.of('system')).toEqual([expect.objectContaining({ data: notice })]);
      expect(doorSystem).toEqual([{ type: 'system', payload: notice }]);
      expect(main.connected && chat.connected && other.socket.connected && door.isOpen).toBe(true);

      const event = await admin.received.event('admin.broadcast');
      expect(event.data).toEqual({ ...notice, by: adminId, auditId: result.auditId });
      expect((await auditLog('?limit=1'))[0]).toEqual(
        expect.objectContaining({
          action: 'broadcast',
          target: null,
          details: { ...notice, targetedConnections: 4 },
          via: 'socket',
        }),
      );
    });

    it('leaves the title out when there is none', async () => {
      const admin = await openAdmin();
      expectOk(await ask(admin, AdminEvent.Broadcast, { level: 'info', message: 'Hello' }));
      const [system] = admin.received.of<Envelope<'system', SystemNotice>>('system');
      expect(system?.data).toEqual({ message: 'Hello', level: 'info' });
    });
  });

  describe('admin:revoke-session', () => {
    it('revokes a session: its sockets close with auth:revoked and its token is refused', async () => {
      const admin = await openAdmin();
      const mallory = newUser('mallory');
      const sid = `sid-${randomUUID()}`;
      const token = tokenOf(mallory, [], sid);
      const victim = await open('/presence', token);
      const otherSession = await open('/presence', tokenOf(mallory, [], `sid-${randomUUID()}`));

      const result = expectOk<RevokeSessionResult>(
        await ask(admin, AdminEvent.RevokeSession, { sessionId: sid }),
      );
      expect(result).toEqual({
        sessionId: sid,
        userId: mallory,
        disconnected: 1,
        auditId: expect.any(Number),
      });
      await victim.received.waitFor('disconnect');
      expect(victim.received.order().slice(-2)).toEqual(['auth:revoked', 'disconnect']);
      expect(otherSession.socket.connected).toBe(true);

      const again = client(running.url, '/presence', { auth: { token } });
      sockets.push(again);
      expect((await refused(again)).message).toBe('AUTH_REVOKED');

      await admin.received.event('session.revoked', (event) => event.sessionId === sid);
      const event = await admin.received.event('admin.session.revoked', (e) => e.sessionId === sid);
      expect(event).toEqual(
        expect.objectContaining({
          userId: mallory,
          data: { by: adminId, sessionId: sid, disconnected: 1, auditId: result.auditId },
        }),
      );
      expect((await auditLog('?limit=1'))[0]).toEqual(
        expect.objectContaining({
          action: 'session.revoked',
          target: sid,
          details: { userId: mallory, connections: 1 },
        }),
      );
    });

    it('revokes a session with no live connection all the same', async () => {
      const admin = await openAdmin();
      const sid = `sid-${randomUUID()}`;
      const result = expectOk<RevokeSessionResult>(
        await ask(admin, AdminEvent.RevokeSession, { sessionId: sid }),
      );
      expect(result).toEqual({ sessionId: sid, disconnected: 0, auditId: expect.any(Number) });
      const later = client(running.url, '/chat', { auth: { token: tokenOf(newUser('nick'), [], sid) } });
      sockets.push(later);
      expect((await refused(later)).message).toBe('AUTH_REVOKED');
    });
  });

  describe('bad input', () => {
    const cases: [string, unknown, string][] = [
      [AdminEvent.DisconnectUser, {}, 'userId'],
      [AdminEvent.DisconnectUser, { userId: 42 }, 'userId'],
      [AdminEvent.DisconnectUser, { userId: '' }, 'userId'],
      [AdminEvent.DisconnectUser, { userId: 'x'.repeat(257) }, 'userId'],
      [AdminEvent.DisconnectUser, { userId: 'victim', revoke: 'yes' }, 'revoke'],
      [AdminEvent.DisconnectUser, { userId: 'victim', revoke: null }, 'revoke'],
      [AdminEvent.DisconnectUser, { userId: 'victim', reason: '' }, 'reason'],
      [AdminEvent.DisconnectUser, { userId: 'victim', reason: '   ' }, 'reason'],
      [AdminEvent.DisconnectUser, { userId: 'victim', reason: 'x'.repeat(501) }, 'reason'],
      [AdminEvent.DisconnectUser, { userId: 'victim', extra: true }, 'extra'],
      [AdminEvent.DisconnectUser, 'victim', ''],
      [AdminEvent.Broadcast, { message: 'hi' }, 'level'],
      [AdminEvent.Broadcast, { level: 'loud', message: 'hi' }, 'level'],
      [AdminEvent.Broadcast, { level: 'info' }, 'message'],
      [AdminEvent.Broadcast, { level: 'info', message: '' }, 'message'],
      [AdminEvent.Broadcast, { level: 'info', message: ' \n ' }, 'message'],
      [AdminEvent.Broadcast, { level: 'info', message: 'x'.repeat(2001) }, 'message'],
      [AdminEvent.Broadcast, { level: 'info', message: 'hi', title: 5 }, 'title'],
      [AdminEvent.Broadcast, { level: 'info', message: 'hi', title: '  ' }, 'title'],
      [AdminEvent.Broadcast, [{ level: 'info', message: 'hi' }], ''],
      [AdminEvent.RevokeSession, {}, 'sessionId'],
      [AdminEvent.RevokeSession, { sessionId: '' }, 'sessionId'],
      [AdminEvent.RevokeSession, { sessionId: { $ne: null } }, 'sessionId'],
    ];

    it.each(
      cases.map(
        ([event, payload, field]) =>
          [`${event} ${JSON.stringify(payload).slice(0, 60)}`, event, payload, field] as const,
      ),
    )('%s: VALIDATION_FAILED, nothing done, the connection lives', async (_title, event, payload, field) => {
      const admin = await openAdmin();
      const before = await auditLog('?limit=1');
      const reply = await ask(admin, event, payload);
      expectFailure(reply, 'VALIDATION_FAILED', field === '' ? undefined : field);
      await barrier(admin);
      expect(admin.received.of('system')).toEqual([]);
      expect(await auditLog('?limit=1')).toEqual(before);
    });

    it('answers through exception without an ack, and the connection lives', async () => {
      const admin = await openAdmin();
      (admin.socket as Socket).emit(AdminEvent.Broadcast, { level: 'nope', message: 'x' });
      const error = await admin.received.waitFor<{ code: string }>('exception');
      expect(error).toEqual(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
      await barrier(admin);
    });
  });

  describe('REST /api/admin', () => {
    const ROUTES: [string, string][] = [
      ['get', '/api/admin/stats'],
      ['get', '/api/admin/connections'],
      ['get', '/api/admin/users'],
      ['get', '/api/admin/users/someone/status'],
      ['delete', '/api/admin/users/someone/connections'],
      ['post', '/api/admin/broadcast'],
      ['get', '/api/admin/audit'],
    ];
    const call = (method: string, path: string) =>
      (http() as unknown as Record<string, (path: string) => request.Test>)[method]!(path);

    it.each(ROUTES)('%s %s: 401 without a token', async (method, path) => {
      const response = await call(method, path);
      expect(response.status).toBe(401);
      expect(response.body).toEqual(unauthorizedBody('AUTH_MISSING'));
    });

    it.each(ROUTES)('%s %s: 403 for a user or a service', async (method, path) => {
      for (const roles of [[], ['service']]) {
        const response = await call(method, path)
          .set({ Authorization: `Bearer ${tokenOf(newUser('user'), roles)}` })
          .send({ level: 'info', message: 'never sent' });
        expectRestError(response, 403, 'FORBIDDEN');
      }
      expect((await auditLog('?limit=200')).filter((entry) => entry.target === 'someone')).toEqual([]);
    });

    it('GET /api/admin/stats answers the stats', async () => {
      const response = await http().get('/api/admin/stats').set(adminBearer);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ message: 'Stats', data: expect.any(Object) });
      const stats = dataOf<AdminStats>(response);
      expect(stats.global.totalServers).toBe(1);
      expect(stats.server.serverId).toBe(stats.servers[0]?.serverId);
    });

    it('GET /api/admin/connections lists and filters live connections, paged', async () => {
      const olga = newUser('olga');
      await open('/chat', tokenOf(olga));
      await open('/presence', tokenOf(olga));
      await openDoor(tokenOf(olga));
      await open('/chat', tokenOf(newUser('peggy')));

      const get = async (query: string) => {
        const response = await http().get(`/api/admin/connections${query}`).set(adminBearer);
        expect(response.status).toBe(200);
        return dataOf<ConnectionsPage>(response);
      };
      const mine = await get(`?userId=${olga}`);
      expect(mine.totalCount).toBe(3);
      expect(mine.connections.map((connection) => connection.namespaces[0]).sort()).toEqual([
        '/chat',
        '/presence',
        '/ws/events',
      ]);
      expect(mine.connections[0]).toEqual({
        connectionId: expect.any(String),
        sessionId: expect.any(String),
        userId: olga,
        roles: [],
        serverId: expect.any(String),
        namespaces: expect.any(Array),
        connectedAt: expect.stringMatching(ISO_TIMESTAMP),
        expiresAt: expect.stringMatching(ISO_TIMESTAMP),
        ipAddress: expect.stringMatching(LOOPBACK),
        userAgent: expect.any(String),
      });
      expect(JSON.stringify(mine)).not.toMatch(/token|fingerprint/i);

      const door = await get(`?userId=${olga}&namespace=/ws/events`);
      expect(door.connections.map((connection) => connection.namespaces)).toEqual([['/ws/events']]);
      const serverId = mine.connections[0]!.serverId;
      expect((await get(`?serverId=${serverId}`)).totalCount).toBe(4);
      expect(await get('?serverId=no-such-server')).toEqual({
        connections: [],
        totalCount: 0,
        page: 1,
        limit: 50,
      });

      const all = await get('');
      expect(all.totalCount).toBe(4);
      const pages = [await get('?limit=3&page=1'), await get('?limit=3&page=2')];
      expect(pages.map((page) => page.connections.length)).toEqual([3, 1]);
      expect(pages.flatMap((page) => page.connections)).toEqual(all.connections);
    });

    it('GET /api/admin/users lists connected users with their connection counts, paged', async () => {
      const [quinn, rupert] = [`a-${newUser('quinn')}`, `b-${newUser('rupert')}`];
      await open('/chat', tokenOf(quinn));
      await openDoor(tokenOf(quinn));
      await open('/presence', tokenOf(rupert));

      const response = await http().get('/api/admin/users').set(adminBearer);
      expect(response.status).toBe(200);
      const page = dataOf<UsersPage>(response);
      expect(page).toEqual({
        users: [
          {
            userId: quinn,
            connections: 2,
            namespaces: ['/chat', '/ws/events'],
            servers: [expect.any(String)],
            connectedSince: expect.stringMatching(ISO_TIMESTAMP),
          },
          expect.objectContaining({ userId: rupert, connections: 1, namespaces: ['/presence'] }),
        ],
        totalCount: 2,
        page: 1,
        limit: 50,
      });
      const second = dataOf<UsersPage>(await http().get('/api/admin/users?limit=1&page=2').set(adminBearer));
      expect(second.users.map((user) => user.userId)).toEqual([rupert]);
    });

    it('GET /api/admin/users/:userId/status tells a connected user, and an unknown one as offline', async () => {
      const sybil = newUser('sybil');
      await open('/chat', tokenOf(sybil));
      const online = await http().get(`/api/admin/users/${sybil}/status`).set(adminBearer);
      expect(online.status).toBe(200);
      expect(dataOf<AdminUserStatus>(online)).toEqual({
        userId: sybil,
        online: true,
        connections: 1,
        status: 'online',
        lastSeenAt: null,
        sessions: [expect.objectContaining({ userId: sybil, namespaces: ['/chat'] })],
      });
      const unknown = await http()
        .get(`/api/admin/users/${newUser('nobody')}/status`)
        .set(adminBearer);
      expect(dataOf<AdminUserStatus>(unknown)).toEqual(
        expect.objectContaining({
          online: false,
          connections: 0,
          status: 'offline',
          lastSeenAt: null,
          sessions: [],
        }),
      );
    });

    it('DELETE /api/admin/users/:userId/connections disconnects, with reason and revoke in the body', async () => {
      const admin = await openAdmin();
      const trent = newUser('trent');
      const token = tokenOf(trent);
      const device = await open('/chat', token);
      const response = await http()
        .delete(`/api/admin/users/${trent}/connections`)
        .set(adminBearer)
        .send({ reason: 'Abuse report 17', revoke: true });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        message: 'User disconnected',
        data: {
          userId: trent,
          disconnected: 1,
          revokedSessions: [expect.any(String)],
          auditId: expect.any(Number),
        },
      });
      await device.received.waitFor('disconnect');
      expect(device.received.of<Envelope<'system', SystemNotice>>('system')[0]?.data.message).toBe(
        'Abuse report 17',
      );
      const again = client(running.url, '/chat', { auth: { token } });
      sockets.push(again);
      expect((await refused(again)).message).toBe('AUTH_REVOKED');
      await admin.received.event('admin.user.disconnected', (event) => event.userId === trent);
      expect((await auditLog('?limit=1'))[0]).toEqual(
        expect.objectContaining({
          actorId: adminId,
          target: trent,
          reason: 'Abuse report 17',
          via: 'rest',
          address: expect.stringMatching(LOOPBACK),
        }),
      );
    });

    it('DELETE /api/admin/users/:userId/connections takes reason and revoke from the query too', async () => {
      const victor = newUser('victor');
      const token = tokenOf(victor);
      const device = await open('/presence', token);
      const response = await http()
        .delete(`/api/admin/users/${victor}/connections?reason=Cooling%20off&revoke=false`)
        .set(adminBearer);
      expect(response.status).toBe(200);
      expect(dataOf<DisconnectUserResult>(response)).toEqual(
        expect.objectContaining({ disconnected: 1, revokedSessions: [] }),
      );
      await device.received.waitFor('disconnect');
      expect(device.received.of<Envelope<'system', SystemNotice>>('system')[0]?.data.message).toBe(
        'Cooling off',
      );
      await open('/presence', token);
    });

    it('POST /api/admin/broadcast sends the system notice (202)', async () => {
      const device = await open('/chat', tokenOf(newUser('walter')));
      const response = await http()
        .post('/api/admin/broadcast')
        .set(adminBearer)
        .send({ level: 'warning', message: 'Read-only for 5 minutes' });
      expect(response.status).toBe(202);
      expect(response.body).toEqual({
        message: 'Broadcast sent',
        data: { targetedConnections: 1, auditId: expect.any(Number) },
      });
      const system = await device.received.waitFor<Envelope<'system', SystemNotice>>('system');
      expect(system.data).toEqual({ message: 'Read-only for 5 minutes', level: 'warning' });
    });

    it('GET /api/admin/audit pages the log newest first, with before and limit', async () => {
      for (const message of ['one', 'two', 'three']) {
        const response = await http()
          .post('/api/admin/broadcast')
          .set(adminBearer)
          .send({ level: 'info', message });
        expect(response.status).toBe(202);
      }
      const newest = await auditLog('?limit=2');
      expect(newest.map((entry) => entry.details.message)).toEqual(['three', 'two']);
      const response = await http().get(`/api/admin/audit?limit=1&before=${newest[1]!.id}`).set(adminBearer);
      expect(response.status).toBe(200);
      const older = dataOf<AuditPage>(response);
      expect(older.entries.map((entry) => entry.details.message)).toEqual(['one']);
      expect(older.hasMore).toBe((await auditLog('?limit=200')).length > 3);
    });

    it.each([
      ['PUT', '/api/admin/audit'],
      ['PATCH', '/api/admin/audit'],
      ['DELETE', '/api/admin/audit'],
      ['POST', '/api/admin/audit'],
      ['PUT', '/api/admin/audit/1'],
      ['PATCH', '/api/admin/audit/1'],
      ['DELETE', '/api/admin/audit/1'],
      ['GET', '/api/admin/audit/1'],
    ])('%s %s changes nothing: 404', async (method, path) => {
      await http().post('/api/admin/broadcast').set(adminBearer).send({ level: 'info', message: 'kept' });
      const before = await auditLog('?limit=200');
      const response = await call(method.toLowerCase(), path)
        .set(adminBearer)
        .send({ action: 'broadcast', reason: 'rewritten', details: {} });
      expect([404, 405]).toContain(response.status);
      expect(await auditLog('?limit=200')).toEqual(before);
    });

    describe('bad input: 400 VALIDATION_FAILED naming the field', () => {
      it.each([
        ['/api/admin/connections?page=0', 'page'],
        ['/api/admin/connections?limit=201', 'limit'],
        ['/api/admin/connections?limit=abc', 'limit'],
        ['/api/admin/connections?userId=', 'userId'],
        ['/api/admin/connections?unknown=1', 'unknown'],
        ['/api/admin/users?page=-1', 'page'],
        ['/api/admin/users?page=1&page=2', 'page'],
        ['/api/admin/audit?before=abc', 'before'],
        ['/api/admin/audit?limit=0', 'limit'],
        [`/api/admin/users/${'x'.repeat(257)}/status`, 'userId'],
      ])('GET %s', async (path, field) => {
        expectRestError(await http().get(path).set(adminBearer), 400, 'VALIDATION_FAILED', field);
      });

      it.each([
        [{ revoke: 'yes' }, 'revoke'],
        [{ reason: 42 }, 'reason'],
        [{ reason: '  ' }, 'reason'],
        [{ unexpected: true }, 'unexpected'],
      ])('DELETE …/connections with %j', async (body, field) => {
        const response = await http()
          .delete('/api/admin/users/someone/connections')
          .set(adminBearer)
          .send(body);
        expectRestError(response, 400, 'VALIDATION_FAILED', field);
      });

      it('DELETE …/connections?revoke=maybe', async () => {
        const response = await http()
          .delete('/api/admin/users/someone/connections?revoke=maybe')
          .set(adminBearer);
        expectRestError(response, 400, 'VALIDATION_FAILED', 'revoke');
      });

      it.each([
        [{}, 'level'],
        [{ level: 'info' }, 'message'],
        [{ level: 'info', message: '   ' }, 'message'],
        [{ level: 'shout', message: 'hi' }, 'level'],
        [{ level: 'info', message: 'hi', title: null }, 'title'],
      ])('POST /api/admin/broadcast with %j', async (body, field) => {
        const response = await http().post('/api/admin/broadcast').set(adminBearer).send(body);
        expectRestError(response, 400, 'VALIDATION_FAILED', field);
      });

      it('left no trace in the audit log', async () => {
        const entries = await auditLog('?limit=200');
        expect(entries.filter((entry) => entry.target === 'someone')).toEqual([]);
        expect(entries.filter((entry) => entry.details.message === 'hi')).toEqual([]);
      });
    });
  });
});
