import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import {
  NotificationsEvent,
  NotificationsLimits,
  type AckResponse,
  type Envelope,
  type LiveMessage,
  type Notification,
  type NotificationPage,
  type NotificationsClientEvents,
  type NotificationsServerEvents,
  type NotificationSyncPage,
  type PublishedEvent,
  type PublishResult,
  type Subscriptions,
} from '../../src/contracts/index.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected } from '../support/clients.js';
import { unauthorizedBody } from '../support/rest-errors.js';
import { signToken } from '../support/tokens.js';

type NotificationsSocket = Socket<NotificationsServerEvents, NotificationsClientEvents>;
type Failure = { ok: false; error: { code: string; message: string; details?: unknown } };
type EventPublished = PublishResult & { id: string; event: PublishedEvent };
type Response = { status: number; body: unknown };

const MAX_SUBSCRIPTIONS = 5;
const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TEST_ENV = {
  EVENTS_MAX_SUBSCRIPTIONS: String(MAX_SUBSCRIPTIONS),
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_EVENTS_PER_S: '0',
  RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
  RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
};

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const dataOf = <T>(response: { body: unknown }) => (response.body as { data: T }).data;
const tokenOf = (userId: string, roles: string[] = []) => signToken({ sub: userId, roles });
const bearer = (userId: string, roles: string[] = []) => ({
  Authorization: `Bearer ${tokenOf(userId, roles)}`,
});

function expectOk<T>(ack: AckResponse<T>): T {
  if (!ack.ok) throw new Error(`Expected success, got ${JSON.stringify(ack.error)}`);
  return ack.data;
}

function expectFailure(ack: unknown, code: string, field?: string): Failure['error'] {
  expect(ack).toEqual({ ok: false, error: expect.objectContaining({ code, message: expect.any(String) }) });
  const { error } = ack as Failure;
  if (field !== undefined) {
    expect(error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  }
  return error;
}

/** A REST `VALIDATION_FAILED`, naming `field` among its details. */
function expectRestInvalid(response: Response, field: string): void {
  expect({ status: response.status, body: response.body }).toEqual({
    status: 400,
    body: expect.objectContaining({
      statusCode: 400,
      code: 'VALIDATION_FAILED',
      message: expect.any(String),
      details: expect.arrayContaining([expect.objectContaining({ field, problems: expect.any(Array) })]),
    }),
  });
}

function expectRestError(response: Response, status: number, code: string): void {
  expect({ status: response.status, body: response.body }).toEqual({
    status,
    body: expect.objectContaining({ statusCode: status, code, message: expect.any(String) }),
  });
}

/** Everything a `/notifications` socket receives, in order, with a way to wait for what is to come. */
class Received {
  readonly items: { event: string; payload: unknown }[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(socket: Socket) {
    socket.onAny((event: string, payload: unknown) => {
      this.items.push({ event, payload });
      for (const waiter of [...this.waiters]) waiter();
    });
  }

  of<T>(event: string): T[] {
    return this.items.filter((item) => item.event === event).map((item) => item.payload as T);
  }

  /** `event` of each published event received, in order. */
  eventTypes(): string[] {
    return this.of<PublishedEvent>(NotificationsEvent.Event).map((event) => event.type);
  }

  /** The first `event` whose payload satisfies `matches`, received already or to come. */
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
        reject(
          new Error(`No matching "${event}" within ${timeoutMs} ms; received ${JSON.stringify(this.items)}`),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The published event of `type`. */
  event(type: string): Promise<PublishedEvent> {
    return this.waitFor<PublishedEvent>(NotificationsEvent.Event, (event) => event.type === type);
  }

  /** The live notification with `title`. */
  notification(title: string): Promise<Envelope<'notification', Notification>> {
    return this.waitFor<Envelope<'notification', Notification>>(
      NotificationsEvent.Notification,
      (envelope) => envelope.data.title === title,
    );
  }

  /** The live message of `type`. */
  message(type: string): Promise<LiveMessage> {
    return this.waitFor<LiveMessage>(NotificationsEvent.Message, (message) => message.type === type);
  }
}

interface Device {
  socket: NotificationsSocket;
  received: Received;
}

describe('notifications (e2e)', () => {
  let running: RunningApp;
  const sockets: Socket[] = [];
  /** A service caller, unique to this run so that its idempotency keys are its own. */
  const publisher = newUser('publisher');
  const publisherToken = tokenOf(publisher, ['service']);

  const http = () => request(running.app.getHttpServer());

  beforeAll(async () => {
    running = await startApp(TEST_ENV);
  });
  afterEach(() => closeAll(sockets));
  afterAll(() => running.close());

  async function open(userId: string, roles: string[] = []): Promise<Device> {
    const socket = client(running.url, '/notifications', { auth: { token: tokenOf(userId, roles) } });
    sockets.push(socket);
    const received = new Received(socket);
    await connected(socket);
    return { socket, received };
  }

  /** For payloads the typed map would refuse. */
  function ask(device: Device, event: string, ...args: unknown[]): Promise<unknown> {
    return (device.socket as Socket).emitWithAck(event, ...args);
  }

  async function subscribe(
    device: Device,
    eventTypes: string[],
    scope?: 'own' | 'all',
  ): Promise<Subscriptions> {
    return expectOk(
      await device.socket.emitWithAck(NotificationsEvent.Subscribe, {
        eventTypes,
        ...(scope === undefined ? {} : { scope }),
      }),
    );
  }

  /** A round trip on the socket: anything sent to it before has arrived once this answers. */
  async function ping(device: Device): Promise<void> {
    expect(expectOk(await device.socket.emitWithAck(NotificationsEvent.Ping, undefined))).toEqual({
      pong: expect.stringMatching(ISO_TIMESTAMP),
    });
    expect(device.socket.connected).toBe(true);
  }

  function post(path: string, body: unknown, options: { token?: string; key?: string } = {}) {
    const call = http()
      .post(path)
      .set('Authorization', `Bearer ${options.token ?? publisherToken}`);
    return (options.key === undefined ? call : call.set('Idempotency-Key', options.key)).send(body as object);
  }

  async function publishEvent(body: Record<string, unknown>, key?: string): Promise<EventPublished> {
    const response = await post('/api/events', body, { key });
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ message: 'Event published', data: expect.any(Object) });
    return dataOf<EventPublished>(response);
  }

  async function notify(body: Record<string, unknown>, key?: string): Promise<PublishResult> {
    const response = await post('/api/notifications', body, { key });
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ message: 'Notification stored', data: expect.any(Object) });
    return dataOf<PublishResult>(response);
  }

  async function sendMessage(body: Record<string, unknown>): Promise<PublishResult> {
    const response = await post('/api/messages', body);
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ message: 'Message sent', data: expect.any(Object) });
    return dataOf<PublishResult>(response);
  }

  async function restInbox(userId: string, query = ''): Promise<NotificationPage> {
    const response = await http().get(`/api/notifications${query}`).set(bearer(userId));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ message: 'Notifications', data: expect.any(Object) });
    return dataOf<NotificationPage>(response);
  }

  async function restUnreadCount(userId: string): Promise<number> {
    const response = await http().get('/api/notifications/unread-count').set(bearer(userId));
    expect(response.status).toBe(200);
    return dataOf<{ unreadCount: number }>(response).unreadCount;
  }

  async function socketInbox(
    device: Device,
    request: Record<string, unknown> = {},
  ): Promise<NotificationPage> {
    return expectOk(await device.socket.emitWithAck(NotificationsEvent.List, request));
  }

  describe('event streams', () => {
    it("delivers a user's own and broadcast events to their matching subscriptions, never another user's", async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const device = await open(alice);
      expect(await subscribe(device, ['security.*', 'session.revoked'])).toEqual({
        eventTypes: ['security.*', 'session.revoked'],
        scope: 'own',
      });

      const own = await publishEvent({
        type: 'security.suspicious_activity',
        userId: alice,
        sessionId: 'session-7',
        data: { reason: 'new device', address: '198.51.100.4' },
      });
      expect(own).toEqual({
        id: expect.stringMatching(UUID),
        event: {
          id: own.id,
          type: 'security.suspicious_activity',
          userId: alice,
          sessionId: 'session-7',
          data: { reason: 'new device', address: '198.51.100.4' },
          timestamp: expect.stringMatching(ISO_TIMESTAMP),
        },
        targetedConnections: 1,
        stored: 0,
      });
      // The `event` payload is itself the envelope, exactly these fields: nothing else, no token.
      const received = await device.received.event('security.suspicious_activity');
      expect(received).toEqual(own.event);
      expect(Object.keys(received).sort()).toEqual([
        'data',
        'id',
        'sessionId',
        'timestamp',
        'type',
        'userId',
      ]);
      expect(JSON.stringify(received)).not.toMatch(/eyJ|token|Bearer/i);

      await publishEvent({ type: 'security.origin.refused', userId: bob, data: { origin: 'https://evil' } });
      await publishEvent({ type: 'authentication.login.success', userId: alice });
      await publishEvent({ type: 'security', userId: alice });
      const broadcast = await publishEvent({ type: 'session.revoked', broadcast: true, data: { count: 1 } });
      expect(broadcast.event).toEqual({
        id: broadcast.id,
        type: 'session.revoked',
        data: { count: 1 },
        timestamp: expect.stringMatching(ISO_TIMESTAMP),
      });
      await device.received.event('session.revoked');

      // Events reach a socket in the order published: the last one arrived, so every earlier one would have.
      expect(device.received.eventTypes()).toEqual(['security.suspicious_activity', 'session.revoked']);
    });

    it("gives admins following everyone's (scope: 'all') every event, admins-only ones included; others get FORBIDDEN", async () => {
      const [alice, admin, plain] = [newUser('alice'), newUser('admin'), newUser('plain')];
      const watcher = await open(admin, ['admin']);
      const user = await open(plain);
      expect(await subscribe(watcher, ['*'], 'all')).toEqual({ eventTypes: ['*'], scope: 'all' });
      expect(
        expectOk(await watcher.socket.emitWithAck(NotificationsEvent.GetSubscriptions, undefined)),
      ).toEqual({
        eventTypes: ['*'],
        scope: 'all',
      });

      const refused = expectFailure(
        await ask(user, NotificationsEvent.Subscribe, { eventTypes: ['*'], scope: 'all' }),
        'FORBIDDEN',
      );
      expect(refused.message).toMatch(/admin/i);
      // A plain user's `*` is every event of their own, and broadcasts: never another user's, nor admins-only ones.
      expect(await subscribe(user, ['*'])).toEqual({ eventTypes: ['*'], scope: 'own' });

      await publishEvent({ type: 'session.created', userId: alice });
      await publishEvent({
        type: 'security.rate_limit.exceeded',
        data: { address: '203.0.113.7', count: 40 },
      });
      await publishEvent({ type: 'admin.user.disconnected', userId: plain, data: { by: admin } });
      await publishEvent({ type: 'system.maintenance.scheduled', broadcast: true, data: { at: 'soon' } });

      await watcher.received.event('system.maintenance.scheduled');
      expect(watcher.received.eventTypes()).toEqual([
        'session.created',
        'security.rate_limit.exceeded',
        'admin.user.disconnected',
        'system.maintenance.scheduled',
      ]);
      await user.received.event('system.maintenance.scheduled');
      expect(user.received.eventTypes()).toEqual(['admin.user.disconnected', 'system.maintenance.scheduled']);
    });

    it('answers subscriptions, takes them back, and pings', async () => {
      const device = await open(newUser('alice'));
      await ping(device);
      expect(
        expectOk(await device.socket.emitWithAck(NotificationsEvent.GetSubscriptions, undefined)),
      ).toEqual({
        eventTypes: [],
        scope: 'own',
      });
      await subscribe(device, ['session.*', 'authentication.login.failed']);
      // Subscribing again to a held pattern changes nothing.
      expect(await subscribe(device, ['session.*'])).toEqual({
        eventTypes: ['authentication.login.failed', 'session.*'],
        scope: 'own',
      });
      const after = expectOk(
        await device.socket.emitWithAck(NotificationsEvent.Unsubscribe, {
          eventTypes: ['session.*', 'never.held'],
        }),
      );
      expect(after).toEqual({ eventTypes: ['authentication.login.failed'], scope: 'own' });
      expect(
        expectOk(await device.socket.emitWithAck(NotificationsEvent.GetSubscriptions, undefined)),
      ).toEqual(after);
    });

    it('stops delivering what was unsubscribed', async () => {
      const alice = newUser('alice');
      const device = await open(alice);
      await subscribe(device, ['session.*', 'system.shutdown']);
      await device.socket.emitWithAck(NotificationsEvent.Unsubscribe, { eventTypes: ['session.*'] });

      await publishEvent({ type: 'session.expired', userId: alice });
      await publishEvent({ type: 'system.shutdown', broadcast: true });

      await device.received.event('system.shutdown');
      expect(device.received.eventTypes()).toEqual(['system.shutdown']);
    });

    it.each([
      ['an empty pattern', ['']],
      ['a trailing dot', ['security.']],
      ['an empty segment', ['security..refused']],
      ['a wildcard inside', ['security.*.refused']],
      ['a double wildcard', ['**']],
      ['a wildcard inside a segment', ['secur*']],
      ['a space', ['security refused']],
      ['nine segments', ['a.b.c.d.e.f.g.h.i']],
      ['one invalid among valid ones', ['session.*', 'bad pattern']],
    ])('refuses %s as VALIDATION_FAILED on eventTypes, keeping what was held', async (_what, eventTypes) => {
      const device = await open(newUser('alice'));
      await subscribe(device, ['system.*']);

      expectFailure(
        await ask(device, NotificationsEvent.Subscribe, { eventTypes }),
        'VALIDATION_FAILED',
        'eventTypes',
      );

      expect(
        expectOk(await device.socket.emitWithAck(NotificationsEvent.GetSubscriptions, undefined)),
      ).toEqual({
        eventTypes: ['system.*'],
        scope: 'own',
      });
      await ping(device);
    });

    it(`holds at most EVENTS_MAX_SUBSCRIPTIONS (${MAX_SUBSCRIPTIONS}) patterns per connection, all or nothing`, async () => {
      const device = await open(newUser('alice'));
      const first = ['a.*', 'b.*', 'c.*', 'd.*'];
      await subscribe(device, first);

      const over = expectFailure(
        await ask(device, NotificationsEvent.Subscribe, { eventTypes: ['e.*', 'f.*'] }),
        'VALIDATION_FAILED',
        'eventTypes',
      );
      expect(over.message).toContain(String(MAX_SUBSCRIPTIONS));
      expect((await subscribe(device, ['a.*', 'e.*'])).eventTypes).toEqual([...first, 'e.*']);
      expectFailure(
        await ask(device, NotificationsEvent.Subscribe, { eventTypes: ['f.*'] }),
        'VALIDATION_FAILED',
      );
      await device.socket.emitWithAck(NotificationsEvent.Unsubscribe, { eventTypes: ['a.*'] });
      expect((await subscribe(device, ['f.*'])).eventTypes).toEqual(['b.*', 'c.*', 'd.*', 'e.*', 'f.*']);
      // Another connection of the same user has its own allowance.
      const other = await open(newUser('bob'));
      expect((await subscribe(other, ['a.*', 'b.*', 'c.*', 'd.*', 'e.*'])).eventTypes).toHaveLength(5);
      await ping(device);
    });
  });

  describe('notifications', () => {
    it('stores a notification, then delivers it live to every device of the user, and to nobody else', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const phone = await open(alice);
      const laptop = await open(alice);
      const stranger = await open(bob);

      const result = await notify({
        userId: alice,
        title: 'Invoice ready',
        body: 'Your invoice #12 is ready',
        level: 'success',
        data: { invoice: 12, tags: ['billing'] },
      });

      expect(result).toEqual({ targetedConnections: 2, stored: 1 });
      const [first, second] = await Promise.all([
        phone.received.notification('Invoice ready'),
        laptop.received.notification('Invoice ready'),
      ]);
      expect(first).toEqual({
        type: 'notification',
        data: {
          id: expect.any(Number),
          userId: alice,
          title: 'Invoice ready',
          body: 'Your invoice #12 is ready',
          level: 'success',
          data: { invoice: 12, tags: ['billing'] },
          timestamp: expect.stringMatching(ISO_TIMESTAMP),
          read: false,
        },
        timestamp: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(second.data).toEqual(first.data);
      expect(Object.keys(first.data).sort()).toEqual(
        ['body', 'data', 'id', 'level', 'read', 'timestamp', 'title', 'userId'].sort(),
      );
      expect((await restInbox(alice)).notifications).toEqual([first.data]);

      await notify({ userId: bob, title: 'For bob', body: 'only' });
      await stranger.received.notification('For bob');
      expect(stranger.received.of(NotificationsEvent.Notification)).toHaveLength(1);
      expect(phone.received.of(NotificationsEvent.Notification)).toHaveLength(1);
    });

    it('defaults the level to info and data to null, and stores one per user of userIds', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const device = await open(bob);
      expect(await notify({ userIds: [alice, bob, alice], title: 'Plain', body: 'text' })).toEqual({
        targetedConnections: 1,
        stored: 2,
      });
      const live = await device.received.notification('Plain');
      expect(live.data).toMatchObject({ userId: bob, level: 'info', data: null, read: false });
      const [stored] = (await restInbox(alice)).notifications;
      expect(stored).toMatchObject({ userId: alice, title: 'Plain', level: 'info', data: null });
    });

    it('keeps what an offline user was sent for their reconnect: over the socket and REST', async () => {
      const alice = newUser('alice');
      for (const title of ['first', 'second', 'third'])
        await notify({ userId: alice, title, body: 'while away' });

      const device = await open(alice);
      const page = await socketInbox(device);
      expect(page.notifications.map((notification) => notification.title)).toEqual([
        'third',
        'second',
        'first',
      ]);
      expect(page).toMatchObject({ hasMore: false, unreadCount: 3 });
      expect(await restInbox(alice)).toEqual(page);

      const newest = await socketInbox(device, { limit: 2 });
      expect(newest.notifications.map((notification) => notification.title)).toEqual(['third', 'second']);
      expect(newest.hasMore).toBe(true);
      const older = await restInbox(alice, `?limit=2&before=${newest.notifications[1]!.id}`);
      expect(older.notifications.map((notification) => notification.title)).toEqual(['first']);
      expect(older).toMatchObject({ hasMore: false, unreadCount: 3 });
      expect(device.received.of(NotificationsEvent.Notification)).toEqual([]);
    });

    it("tells the user's other devices of a read, and the counts agree over the socket and REST", async () => {
      const alice = newUser('alice');
      const phone = await open(alice);
      const laptop = await open(alice);
      for (const title of ['one', 'two', 'three']) await notify({ userId: alice, title, body: 'b' });
      const [one, two] = (await socketInbox(phone)).notifications.reverse();

      const read = expectOk(await phone.socket.emitWithAck(NotificationsEvent.Read, { id: one!.id }));
      expect(read).toEqual({ ...one, read: true });
      const told =
        await laptop.received.waitFor<Envelope<'notification:read', { id: number }>>('notification:read');
      expect(told).toEqual({
        type: 'notification:read',
        data: { id: one!.id },
        timestamp: expect.stringMatching(ISO_TIMESTAMP),
      });

      const restRead = await http().post(`/api/notifications/${two!.id}/read`).set(bearer(alice));
      expect(restRead.status).toBe(200);
      expect(restRead.body).toEqual({ message: 'Notification read', data: { ...two, read: true } });
      for (const device of [phone, laptop]) {
        await device.received.waitFor<Envelope<'notification:read', { id: number }>>(
          'notification:read',
          (event) => event.data.id === two!.id,
        );
      }

      const bySocket = await socketInbox(laptop);
      expect(bySocket.unreadCount).toBe(1);
      expect(await restUnreadCount(alice)).toBe(1);
      expect((await restInbox(alice)).unreadCount).toBe(1);
      expect(bySocket.notifications.map((notification) => [notification.title, notification.read])).toEqual([
        ['three', false],
        ['two', true],
        ['one', true],
      ]);
      const unread = await restInbox(alice, '?unreadOnly=true');
      expect(unread.notifications.map((notification) => notification.title)).toEqual(['three']);
      expect((await socketInbox(phone, { unreadOnly: true })).notifications).toEqual(unread.notifications);
      // Reading again changes nothing, and still answers the notification.
      expect(expectOk(await phone.socket.emitWithAck(NotificationsEvent.Read, { id: one!.id })).read).toBe(
        true,
      );
    });

    it("marks all read over the socket or REST, telling the user's devices", async () => {
      const alice = newUser('alice');
      const phone = await open(alice);
      const laptop = await open(alice);
      for (const title of ['one', 'two']) await notify({ userId: alice, title, body: 'b' });

      expect(expectOk(await phone.socket.emitWithAck(NotificationsEvent.ReadAll, undefined))).toEqual({
        read: 2,
      });
      for (const device of [phone, laptop]) {
        expect(await device.received.waitFor('notifications:read-all')).toEqual({
          type: 'notifications:read-all',
          data: { read: 2 },
          timestamp: expect.stringMatching(ISO_TIMESTAMP),
        });
      }
      expect(await restUnreadCount(alice)).toBe(0);

      await notify({ userId: alice, title: 'three', body: 'b' });
      const response = await http().post('/api/notifications/read-all').set(bearer(alice));
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ message: 'Notifications read', data: { read: 1 } });
      await laptop.received.waitFor<Envelope<'notifications:read-all', { read: number }>>(
        'notifications:read-all',
        (event) => event.data.read === 1,
      );
      expect((await socketInbox(laptop)).unreadCount).toBe(0);
      const again = await http().post('/api/notifications/read-all').set(bearer(alice));
      expect(dataOf(again)).toEqual({ read: 0 });
    });

    it('syncs what was stored after a notification, oldest first, only the user’s own', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      await notify({ userId: alice, title: 'seen', body: 'b' });
      const device = await open(alice);
      const [seen] = (await socketInbox(device)).notifications;
      for (const title of ['missed 1', 'missed 2', 'missed 3'])
        await notify({ userId: alice, title, body: 'b' });
      await notify({ userId: bob, title: 'not hers', body: 'b' });

      const synced = expectOk(
        await device.socket.emitWithAck(NotificationsEvent.Sync, { afterId: seen!.id }),
      );
      expect(synced.notifications.map((notification) => notification.title)).toEqual([
        'missed 1',
        'missed 2',
        'missed 3',
      ]);
      expect(synced.hasMore).toBe(false);
      const page: NotificationSyncPage = expectOk(
        await device.socket.emitWithAck(NotificationsEvent.Sync, { afterId: seen!.id, limit: 2 }),
      );
      expect(page.notifications.map((notification) => notification.title)).toEqual(['missed 1', 'missed 2']);
      expect(page.hasMore).toBe(true);
      const all = expectOk(await device.socket.emitWithAck(NotificationsEvent.Sync, { afterId: 0 }));
      expect(all.notifications.map((notification) => notification.title)).toEqual([
        'seen',
        'missed 1',
        'missed 2',
        'missed 3',
      ]);
    });
  });

  describe('messages', () => {
    it('delivers the flat message live to one user, several, or everyone, and stores nothing', async () => {
      const [alice, bob, carol] = [newUser('alice'), newUser('bob'), newUser('carol')];
      const alicePhone = await open(alice);
      const aliceLaptop = await open(alice);
      const bobDevice = await open(bob);
      const carolDevice = await open(carol);

      expect(await sendMessage({ userId: alice, type: 'order.shipped', data: { order: 7 } })).toEqual({
        targetedConnections: 2,
        stored: 0,
      });
      for (const device of [alicePhone, aliceLaptop]) {
        expect(await device.received.message('order.shipped')).toEqual({
          type: 'order.shipped',
          data: { order: 7 },
          timestamp: expect.stringMatching(ISO_TIMESTAMP),
        });
      }

      expect(await sendMessage({ userIds: [bob, carol, bob], type: 'chat.hint' })).toEqual({
        targetedConnections: 2,
        stored: 0,
      });
      for (const device of [bobDevice, carolDevice]) {
        expect(await device.received.message('chat.hint')).toEqual({
          type: 'chat.hint',
          data: null,
          timestamp: expect.stringMatching(ISO_TIMESTAMP),
        });
      }

      const everyone = await sendMessage({ broadcast: true, type: 'hello all', data: 'text' });
      expect(everyone.targetedConnections).toBeGreaterThanOrEqual(4);
      expect(everyone.stored).toBe(0);
      for (const device of [alicePhone, aliceLaptop, bobDevice, carolDevice])
        await device.received.message('hello all');

      const types = (device: Device) =>
        device.received.of<LiveMessage>(NotificationsEvent.Message).map((m) => m.type);
      expect(types(alicePhone)).toEqual(['order.shipped', 'hello all']);
      expect(types(bobDevice)).toEqual(['chat.hint', 'hello all']);
      expect(types(carolDevice)).toEqual(['chat.hint', 'hello all']);
      for (const user of [alice, bob, carol]) expect((await restInbox(user)).notifications).toEqual([]);
      for (const device of [alicePhone, bobDevice]) {
        expect(device.received.of(NotificationsEvent.Notification)).toEqual([]);
        expect(device.received.of(NotificationsEvent.Event)).toEqual([]);
      }
    });
  });

  describe('authorization', () => {
    const PUBLISH: [path: string, body: Record<string, unknown>][] = [
      ['/api/events', { type: 'session.created', userId: 'someone' }],
      ['/api/notifications', { userId: 'someone', title: 't', body: 'b' }],
      ['/api/messages', { userId: 'someone', type: 't' }],
    ];

    it.each(PUBLISH)(
      'refuses a plain user publishing on %s (403), publishing nothing',
      async (path, body) => {
        const target = newUser('target');
        const device = await open(target);
        await subscribe(device, ['*']);

        const response = await post(path, { ...body, userId: target }, { token: tokenOf(newUser('plain')) });

        expectRestError(response, 403, 'FORBIDDEN');
        expect((await restInbox(target)).notifications).toEqual([]);
        await ping(device);
        expect(device.received.items.filter((item) => item.event !== 'authenticated')).toEqual([]);
      },
    );

    it.each(PUBLISH)('lets an admin publish on %s as a service may', async (path, body) => {
      const response = await post(path, body, { token: tokenOf(newUser('admin'), ['admin']) });
      expect(response.status).toBeLessThan(300);
    });

    it.each([
      ['post', '/api/events'],
      ['post', '/api/notifications'],
      ['post', '/api/messages'],
      ['get', '/api/notifications'],
      ['get', '/api/notifications/unread-count'],
      ['post', '/api/notifications/read-all'],
      ['post', '/api/notifications/1/read'],
    ] as const)('answers %s %s without a token with 401', async (method, path) => {
      const response = await http()[method](path);
      expect(response.status).toBe(401);
      expect(response.body).toEqual(unauthorizedBody('AUTH_MISSING'));
    });

    it("answers another user's notification as one that does not exist (404), over REST and the socket", async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      await notify({ userId: alice, title: 'private', body: 'b' });
      const [hers] = (await restInbox(alice)).notifications;
      const device = await open(bob);

      const foreign = await http().post(`/api/notifications/${hers!.id}/read`).set(bearer(bob));
      const unknown = await http().post('/api/notifications/999999999/read').set(bearer(bob));
      expectRestError(foreign, 404, 'NOT_FOUND');
      expectRestError(unknown, 404, 'NOT_FOUND');
      expect((foreign.body as { message: string }).message).toBe(`Notification ${hers!.id} not found`);
      expect((unknown.body as { message: string }).message).toBe('Notification 999999999 not found');
      expectFailure(await ask(device, NotificationsEvent.Read, { id: hers!.id }), 'NOT_FOUND');
      expect((await restInbox(bob)).notifications).toEqual([]);
      expect((await restInbox(alice)).notifications).toEqual([{ ...hers, read: false }]);
      await ping(device);
    });
  });

  describe('idempotent publishing', () => {
    it('stores and delivers a notification once per Idempotency-Key, answering a retry with the first result', async () => {
      const alice = newUser('alice');
      const device = await open(alice);
      const key = randomUUID();
      const body = { userId: alice, title: 'Once', body: 'only once' };

      const first = await post('/api/notifications', body, { key });
      await open(alice);
      const retry = await post('/api/notifications', body, { key });

      expect(first.status).toBe(201);
      expect(retry.status).toBe(201);
      expect(retry.body).toEqual(first.body);
      expect(dataOf(first)).toEqual({ targetedConnections: 1, stored: 1 });
      await device.received.notification('Once');
      // Another actor's key is their own, even when it is the same text.
      const other = await post('/api/notifications', body, {
        key,
        token: tokenOf(newUser('other'), ['service']),
      });
      expect(other.status).toBe(201);
      await ping(device);
      expect((await restInbox(alice)).notifications.map((notification) => notification.title)).toEqual([
        'Once',
        'Once',
      ]);
      expect(device.received.of(NotificationsEvent.Notification)).toHaveLength(2);
    });

    it('publishes an event and sends a message once per key, answering the first result with the same status', async () => {
      const alice = newUser('alice');
      const device = await open(alice);
      await subscribe(device, ['*']);
      const key = randomUUID();

      const first = await post('/api/events', { type: 'session.created', userId: alice }, { key });
      const retry = await post('/api/events', { type: 'session.created', userId: alice }, { key });
      expect([first.status, retry.status]).toEqual([202, 202]);
      expect(retry.body).toEqual(first.body);

      const messageKey = randomUUID();
      const sent = await post('/api/messages', { userId: alice, type: 'once' }, { key: messageKey });
      const resent = await post('/api/messages', { userId: alice, type: 'once' }, { key: messageKey });
      expect([sent.status, resent.status]).toEqual([202, 202]);
      expect(resent.body).toEqual(sent.body);

      await publishEvent({ type: 'system.shutdown', broadcast: true });
      await device.received.event('system.shutdown');
      expect(device.received.eventTypes()).toEqual(['session.created', 'system.shutdown']);
      expect(
        device.received.of<LiveMessage>(NotificationsEvent.Message).map((message) => message.type),
      ).toEqual(['once']);
    });

    it('answers concurrent publishes with one key with the one result or CONFLICT, storing once', async () => {
      const alice = newUser('alice');
      const key = randomUUID();
      const body = { userId: alice, title: 'Raced', body: 'b' };

      const responses = await Promise.all(
        Array.from({ length: 8 }, () => post('/api/notifications', body, { key })),
      );

      const answers = responses.map((response) => response.status);
      expect(answers).toContain(201);
      for (const response of responses) {
        if (response.status === 201) expect(dataOf(response)).toEqual({ targetedConnections: 0, stored: 1 });
        else expectRestError(response, 409, 'CONFLICT');
      }
      expect((await restInbox(alice)).notifications).toHaveLength(1);
    });

    it.each([
      ['empty', ''],
      ['too long', 'k'.repeat(NotificationsLimits.maxIdempotencyKeyLength + 1)],
      ['holding a tab', 'key\tvalue'],
      ['not ASCII', 'clé'],
    ])(
      'refuses an Idempotency-Key that is %s (400 on the header), publishing nothing',
      async (_what, key) => {
        const alice = newUser('alice');
        const response = await http()
          .post('/api/notifications')
          .set('Authorization', `Bearer ${publisherToken}`)
          .set('Idempotency-Key', key)
          .send({ userId: alice, title: 't', body: 'b' });
        expectRestInvalid(response, 'Idempotency-Key');
        expect((await restInbox(alice)).notifications).toEqual([]);
      },
    );

    it(`takes an Idempotency-Key of exactly ${NotificationsLimits.maxIdempotencyKeyLength} printable characters`, async () => {
      const key = `${'k'.repeat(NotificationsLimits.maxIdempotencyKeyLength - 3)} ~!`;
      expect((await notify({ userId: newUser('alice'), title: 't', body: 'b' }, key)).stored).toBe(1);
    });
  });

  describe('bad input', () => {
    const BIG_DATA = { text: 'x'.repeat(NotificationsLimits.maxDataBytes) };
    const USER_IDS_OVER = Array.from(
      { length: NotificationsLimits.maxUserIds + 1 },
      (_, index) => `u${index}`,
    );

    const EVENT_CASES: [what: string, body: unknown, field: string][] = [
      ['no type', { userId: 'a' }, 'type'],
      ['a type that is a number', { type: 42 }, 'type'],
      ['a type with an empty segment', { type: 'security..x' }, 'type'],
      ['a type with a wildcard', { type: 'security.*' }, 'type'],
      ['a type of nine segments', { type: 'a.b.c.d.e.f.g.h.i' }, 'type'],
      ['a userId that is a number', { type: 'a.b', userId: 42 }, 'userId'],
      ['a null userId', { type: 'a.b', userId: null }, 'userId'],
      ['an empty userId', { type: 'a.b', userId: '' }, 'userId'],
      ['broadcast as text', { type: 'a.b', broadcast: 'yes' }, 'broadcast'],
      ['a userId and broadcast', { type: 'a.b', userId: 'a', broadcast: true }, 'broadcast'],
      ['an empty sessionId', { type: 'a.b', sessionId: '' }, 'sessionId'],
      ['data over 16 KiB', { type: 'a.b', data: BIG_DATA }, 'data'],
      ['an unknown field', { type: 'a.b', token: 'secret' }, 'token'],
    ];

    const NOTIFY_CASES: [what: string, body: unknown, field: string][] = [
      ['no recipient', { title: 't', body: 'b' }, 'userId'],
      ['userId and userIds', { userId: 'a', userIds: ['b'], title: 't', body: 'b' }, 'userIds'],
      ['userId and broadcast', { userId: 'a', broadcast: true, title: 't', body: 'b' }, 'broadcast'],
      ['broadcast: false', { broadcast: false, title: 't', body: 'b' }, 'broadcast'],
      ['a null userId', { userId: null, title: 't', body: 'b' }, 'userId'],
      ['userIds as text', { userIds: 'a', title: 't', body: 'b' }, 'userIds'],
      ['no userIds', { userIds: [], title: 't', body: 'b' }, 'userIds'],
      ['userIds holding an empty id', { userIds: ['a', ''], title: 't', body: 'b' }, 'userIds'],
      ['userIds holding a number', { userIds: ['a', 7], title: 't', body: 'b' }, 'userIds'],
      ['a userId over 256 characters', { userId: 'u'.repeat(257), title: 't', body: 'b' }, 'userId'],
      [`${USER_IDS_OVER.length} userIds`, { userIds: USER_IDS_OVER, title: 't', body: 'b' }, 'userIds'],
      ['no title', { userId: 'a', body: 'b' }, 'title'],
      ['a blank title', { userId: 'a', title: '   ', body: 'b' }, 'title'],
      ['a title over 200 characters', { userId: 'a', title: 't'.repeat(201), body: 'b' }, 'title'],
      ['no body', { userId: 'a', title: 't' }, 'body'],
      ['a body that is a number', { userId: 'a', title: 't', body: 4 }, 'body'],
      ['a body over 4000 characters', { userId: 'a', title: 't', body: 'b'.repeat(4001) }, 'body'],
      ['an unknown level', { userId: 'a', title: 't', body: 'b', level: 'fatal' }, 'level'],
      ['data over 16 KiB', { userId: 'a', title: 't', body: 'b', data: BIG_DATA }, 'data'],
      ['an unknown field', { userId: 'a', title: 't', body: 'b', read: true }, 'read'],
    ];

    const MESSAGE_CASES: [what: string, body: unknown, field: string][] = [
      ['no recipient', { type: 't' }, 'userId'],
      ['two recipients', { userIds: ['a'], broadcast: true, type: 't' }, 'broadcast'],
      ['no type', { userId: 'a' }, 'type'],
      ['a type that is a number', { userId: 'a', type: 7 }, 'type'],
      ['a blank type', { userId: 'a', type: ' ' }, 'type'],
      ['a type over 100 characters', { userId: 'a', type: 't'.repeat(101) }, 'type'],
      ['data over 16 KiB', { userId: 'a', type: 't', data: BIG_DATA }, 'data'],
      ['an unknown field', { userId: 'a', type: 't', title: 'no' }, 'title'],
    ];

    it.each([
      ...EVENT_CASES.map(([what, body, field]) => ['/api/events', what, body, field] as const),
      ...NOTIFY_CASES.map(([what, body, field]) => ['/api/notifications', what, body, field] as const),
      ...MESSAGE_CASES.map(([what, body, field]) => ['/api/messages', what, body, field] as const),
    ])('POST %s with %s: 400 naming the field', async (path, _what, body, field) => {
      const target = newUser('target');
      const withTarget = JSON.parse(JSON.stringify(body).replaceAll('"a"', JSON.stringify(target))) as object;
      expectRestInvalid(await post(path, withTarget), field);
      expect((await restInbox(target)).notifications).toEqual([]);
    });

    it.each([
      ['limit=0', 'limit'],
      [`limit=${NotificationsLimits.maxPageSize + 1}`, 'limit'],
      ['limit=two', 'limit'],
      ['before=0', 'before'],
      ['before=1.5', 'before'],
      ['unreadOnly=yes', 'unreadOnly'],
      ['page=2', 'page'],
    ])('GET /api/notifications?%s: 400 naming the field', async (query, field) => {
      expectRestInvalid(
        await http()
          .get(`/api/notifications?${query}`)
          .set(bearer(newUser('alice'))),
        field,
      );
    });

    it.each(['0', '-1', '1.5', 'abc', '9'.repeat(30)])(
      'POST /api/notifications/%s/read: 400 on the id',
      async (id) => {
        expectRestInvalid(
          await http()
            .post(`/api/notifications/${id}/read`)
            .set(bearer(newUser('alice'))),
          'id',
        );
      },
    );

    const SOCKET_CASES: [event: string, what: string, args: unknown[], field: string][] = [
      [NotificationsEvent.Subscribe, 'no payload', [], 'eventTypes'],
      [NotificationsEvent.Subscribe, 'eventTypes as text', [{ eventTypes: 'security.*' }], 'eventTypes'],
      [NotificationsEvent.Subscribe, 'eventTypes holding a number', [{ eventTypes: [42] }], 'eventTypes'],
      [NotificationsEvent.Subscribe, 'an unknown scope', [{ eventTypes: ['*'], scope: 'everyone' }], 'scope'],
      [NotificationsEvent.Subscribe, 'an unknown field', [{ eventTypes: ['*'], userId: 'bob' }], 'userId'],
      [NotificationsEvent.Unsubscribe, 'no eventTypes', [{}], 'eventTypes'],
      [NotificationsEvent.List, 'limit 0', [{ limit: 0 }], 'limit'],
      [NotificationsEvent.List, 'a limit over the largest page', [{ limit: 201 }], 'limit'],
      [NotificationsEvent.List, 'unreadOnly as text', [{ unreadOnly: 'true' }], 'unreadOnly'],
      [NotificationsEvent.List, 'before as text', [{ before: '5' }], 'before'],
      [NotificationsEvent.List, 'a user id', [{ userId: 'someone-else' }], 'userId'],
      [NotificationsEvent.Read, 'no payload', [], 'id'],
      [NotificationsEvent.Read, 'no id', [{}], 'id'],
      [NotificationsEvent.Read, 'an id as text', [{ id: '1' }], 'id'],
      [NotificationsEvent.Read, 'a negative id', [{ id: -1 }], 'id'],
      [NotificationsEvent.Read, 'a fractional id', [{ id: 1.5 }], 'id'],
      [NotificationsEvent.Sync, 'no payload', [], 'afterId'],
      [NotificationsEvent.Sync, 'no afterId', [{}], 'afterId'],
      [NotificationsEvent.Sync, 'a negative afterId', [{ afterId: -1 }], 'afterId'],
      [NotificationsEvent.Sync, 'afterId as text', [{ afterId: 'latest' }], 'afterId'],
      [NotificationsEvent.Sync, 'a limit over the largest page', [{ afterId: 0, limit: 1000 }], 'limit'],
    ];

    it.each(SOCKET_CASES)(
      '%s with %s: VALIDATION_FAILED, and the connection lives',
      async (event, _what, args, field) => {
        const device = await open(newUser('alice'));
        expectFailure(await ask(device, event, ...args), 'VALIDATION_FAILED', field);
        await ping(device);
      },
    );

    it('answers notification:read of an unknown id with NOT_FOUND, and the connection lives', async () => {
      const device = await open(newUser('alice'));
      expectFailure(await ask(device, NotificationsEvent.Read, { id: 987654321 }), 'NOT_FOUND');
      await ping(device);
    });
  });
});

describe('broadcast notifications (e2e)', () => {
  let running: RunningApp;
  const sockets: Socket[] = [];
  const publisher = `Bearer ${tokenOf(newUser('publisher'), ['service'])}`;

  const http = () => request(running.app.getHttpServer());

  beforeAll(async () => {
    running = await startApp(TEST_ENV);
  });
  afterEach(() => closeAll(sockets));
  afterAll(() => running.close());

  async function inbox(userId: string): Promise<NotificationPage> {
    const response = await http().get('/api/notifications').set(bearer(userId));
    expect(response.status).toBe(200);
    return dataOf<NotificationPage>(response);
  }

  it('reaches every connected user live and every user’s inbox, later users included, with read state per user', async () => {
    const early = newUser('early');
    const socket = client(running.url, '/notifications', { auth: { token: tokenOf(early) } });
    sockets.push(socket);
    const received = new Received(socket);
    await connected(socket);

    const response = await http()
      .post('/api/notifications')
      .set('Authorization', publisher)
      .send({ broadcast: true, title: 'Maintenance', body: 'Tonight at 22:00', level: 'warning' });
    expect(response.status).toBe(201);
    expect(dataOf(response)).toEqual({ targetedConnections: expect.any(Number), stored: 1 });
    expect(dataOf<PublishResult>(response).targetedConnections).toBeGreaterThanOrEqual(1);

    const live = await received.notification('Maintenance');
    expect(live.data).toEqual({
      id: expect.any(Number),
      title: 'Maintenance',
      body: 'Tonight at 22:00',
      level: 'warning',
      data: null,
      timestamp: expect.stringMatching(ISO_TIMESTAMP),
      read: false,
    });
    expect(live.data).not.toHaveProperty('userId');

    // Users who had never connected, nor existed anywhere, when it was sent.
    const [later, latest] = [newUser('later'), newUser('latest')];
    expect((await inbox(later)).notifications).toEqual([live.data]);
    const read = await http().post(`/api/notifications/${live.data.id}/read`).set(bearer(later));
    expect(read.status).toBe(200);
    expect(dataOf(read)).toEqual({ ...live.data, read: true });

    expect(await inbox(later)).toEqual({
      notifications: [{ ...live.data, read: true }],
      hasMore: false,
      unreadCount: 0,
    });
    expect(await inbox(latest)).toEqual({ notifications: [live.data], hasMore: false, unreadCount: 1 });
    expect(await inbox(early)).toEqual({ notifications: [live.data], hasMore: false, unreadCount: 1 });

    const readAll = await http().post('/api/notifications/read-all').set(bearer(latest));
    expect(dataOf(readAll)).toEqual({ read: 1 });
    expect((await inbox(latest)).unreadCount).toBe(0);
    expect((await inbox(early)).unreadCount).toBe(1);
  });
});
