import { jest } from '@jest/globals';
import { Server, type Namespace } from 'socket.io';
import { Adapter } from 'socket.io-adapter';
import { InMemoryNotificationRepository } from '../../test/support/memory-notification.repository.js';
import { Clock } from '../common/clock.js';
import { AppError } from '../common/errors.js';
import { buildAppConfig, type AppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import type { ConnectionRegistry } from '../connections/connection-registry.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import type { EventSubscriber } from './event-router.js';
import { LiveDelivery, type LiveDoor, type LocalRecipients, type ReadStateChange } from './live-delivery.js';
import {
  NotificationsLimits,
  type LiveMessage,
  type Notification,
  type NotifyRequest,
  type PublishedEvent,
  type SendMessageToUsersRequest,
} from './notifications.events.js';
import { NotificationsService } from './notifications.service.js';

const MAX_SUBSCRIPTIONS = 3;
const RETENTION_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;
const START = Date.parse('2030-01-02T03:04:05.000Z');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const ENV = {
  NODE_ENV: 'test',
  JWT_SECRET: 'unit-test-secret',
  EVENTS_MAX_SUBSCRIPTIONS: String(MAX_SUBSCRIPTIONS),
  NOTIFICATIONS_RETENTION_DAYS: String(RETENTION_DAYS),
};
/** Instances of a cluster (Redis is configured, never connected to: `LinkedAdapter` carries it). */
const config = buildAppConfig(validateEnvironment({ ...ENV, REDIS_URL: 'redis://127.0.0.1:6379' }));
/** One instance alone, without Redis. */
const standaloneConfig = buildAppConfig(validateEnvironment(ENV));

/** A clock that stands still unless moved. */
class FixedClock extends Clock {
  constructor(private time: number) {
    super();
  }
  now(): number {
    return this.time;
  }
  set(time: number): void {
    this.time = time;
  }
  onJump(): () => void {
    return () => undefined;
  }
}

/** The registry's cluster view, as the service asks it: counts only. */
class FakeRegistry {
  readonly perUser = new Map<string, number>();
  total = 0;
  readonly asked: string[] = [];
  /** Set while the cluster view cannot be read (Redis down); this instance's own count then. */
  unreadable = false;
  readonly localPerUser = new Map<string, number>();

  countConnections(): Promise<number> {
    this.asked.push('*');
    return this.unreadable ? Promise.reject(new Error('Redis is down')) : Promise.resolve(this.total);
  }

  countUserConnections(userId: string): Promise<number> {
    this.asked.push(userId);
    return this.unreadable
      ? Promise.reject(new Error('Redis is down'))
      : Promise.resolve(this.perUser.get(userId) ?? 0);
  }

  countLocalUserConnections(userIds: readonly string[]): number {
    return userIds.reduce((total, userId) => total + (this.localPerUser.get(userId) ?? 0), 0);
  }
}

type DoorCall =
  | { kind: 'notifications'; notifications: Notification[]; to: LocalRecipients; storedIds: number[] }
  | { kind: 'message'; message: LiveMessage; to: LocalRecipients }
  | { kind: 'read'; userId: string; change: ReadStateChange };

/** A transport that notes what it is asked to deliver, and what was stored at that moment. */
class RecordingDoor implements LiveDoor {
  readonly calls: DoorCall[] = [];

  constructor(private readonly repository: InMemoryNotificationRepository) {}

  deliverNotifications(notifications: readonly Notification[], to: LocalRecipients): void {
    const storedIds = this.repository.storedNotifications().map((notification) => notification.id);
    this.calls.push({ kind: 'notifications', notifications: [...notifications], to, storedIds });
  }

  deliverMessage(message: LiveMessage, to: LocalRecipients): void {
    this.calls.push({ kind: 'message', message, to });
  }

  deliverReadState(userId: string, change: ReadStateChange): void {
    this.calls.push({ kind: 'read', userId, change });
  }
}

/**
 * An adapter linking the servers of one test as instances of a cluster: a server-side emit on one
 * reaches the same namespace of every other one, through JSON, as Redis would carry it.
 */
class LinkedAdapter extends Adapter {
  static readonly cluster = new Set<LinkedAdapter>();
  readonly sent: unknown[][] = [];

  constructor(nsp: Namespace) {
    super(nsp);
    LinkedAdapter.cluster.add(this);
  }

  private get namespace(): Namespace {
    return this.nsp as Namespace;
  }

  override serverSideEmit(packet: unknown[]): void {
    this.sent.push(packet);
    for (const other of LinkedAdapter.cluster) {
      if (other === this || other.namespace.name !== this.namespace.name) continue;
      other.namespace._onServerSideEmit(JSON.parse(JSON.stringify(packet)) as [string, ...unknown[]]);
    }
  }
}

/** One instance: a service over its own live delivery, door and Socket.IO server. */
function instance(
  repository: InMemoryNotificationRepository,
  registry: FakeRegistry,
  clock: Clock,
  appConfig: AppConfig = config,
) {
  const io = new Server({ adapter: LinkedAdapter });
  const realtime = new RealtimeServer();
  realtime.attach(io);
  const delivery = new LiveDelivery(realtime, appConfig);
  delivery.onApplicationBootstrap();
  const door = new RecordingDoor(repository);
  delivery.addDoor(door);
  const service = new NotificationsService(
    repository,
    delivery,
    registry as unknown as ConnectionRegistry,
    appConfig,
    clock,
  );
  return { io, delivery, door, service, adapter: io.of('/').adapter as LinkedAdapter };
}

/** An event subscriber that notes what it receives. */
function subscriber(userId: string, isAdmin = false): EventSubscriber & { received: PublishedEvent[] } {
  const received: PublishedEvent[] = [];
  return { userId, isAdmin, received, deliver: (event) => received.push(event) };
}

async function failureOf(operation: Promise<unknown>): Promise<AppError> {
  const error = await operation.then(
    () => {
      throw new Error('Expected the operation to fail');
    },
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/** A `VALIDATION_FAILED` naming `field`. */
async function expectInvalid(operation: Promise<unknown>, field: string): Promise<AppError> {
  const error = await failureOf(operation);
  expect(error.code).toBe('VALIDATION_FAILED');
  expect(error.details).toEqual([{ field, problems: [error.message] }]);
  return error;
}

/** `data` whose JSON is exactly `bytes` bytes long. */
function dataOfSize(bytes: number, char = 'x'): { text: string } {
  const overhead = JSON.stringify({ text: '' }).length;
  const charBytes = Buffer.byteLength(char);
  const data = { text: char.repeat(Math.floor((bytes - overhead) / charBytes)) };
  expect(Buffer.byteLength(JSON.stringify(data))).toBe(bytes);
  return data;
}

describe('NotificationsService', () => {
  let repository: InMemoryNotificationRepository;
  let registry: FakeRegistry;
  let clock: FixedClock;
  let main: ReturnType<typeof instance>;
  let service: NotificationsService;
  let door: RecordingDoor;

  beforeEach(() => {
    LinkedAdapter.cluster.clear();
    repository = new InMemoryNotificationRepository();
    registry = new FakeRegistry();
    clock = new FixedClock(START);
    main = instance(repository, registry, clock);
    ({ service, door } = main);
  });

  afterEach(() => {
    service.onModuleDestroy();
    jest.useRealTimers();
  });

  const notice = { title: 'Hello', body: 'World' };

  describe('notify', () => {
    it('stores one notification per user, each once, before delivering them, and counts their connections', async () => {
      registry.perUser.set('alice', 2).set('bob', 1);

      const result = await service.notify({ userIds: ['alice', 'bob', 'alice', 'carol'], ...notice });

      expect(result).toEqual({ targetedConnections: 3, stored: 3 });
      const stored = repository.storedNotifications();
      expect(stored).toEqual(
        ['alice', 'bob', 'carol'].map((userId, index) => ({
          id: index + 1,
          userId,
          title: 'Hello',
          body: 'World',
          level: 'info',
          data: null,
          timestamp: new Date(START).toISOString(),
          read: false,
        })),
      );
      expect(door.calls).toEqual([
        { kind: 'notifications', notifications: stored, to: ['alice', 'bob', 'carol'], storedIds: [1, 2, 3] },
      ]);
      expect(registry.asked.sort()).toEqual(['alice', 'bob', 'carol']);
    });

    it('answers once stored while the cluster view cannot be read, estimating from its own connections', async () => {
      registry.unreadable = true;
      registry.localPerUser.set('alice', 1);

      const result = await service.notify({ userIds: ['alice', 'bob'], ...notice });

      expect(result).toEqual({ targetedConnections: 1, stored: 2 });
      expect(repository.storedNotifications()).toHaveLength(2);
    });

    it('stores one notification for everyone, delivered to every connection, counted from the whole registry', async () => {
      registry.total = 42;

      const result = await service.notify({
        broadcast: true,
        ...notice,
        level: 'critical',
        data: { a: [1, 'two'] },
      });

      expect(result).toEqual({ targetedConnections: 42, stored: 1 });
      const [stored] = repository.storedNotifications();
      expect(stored).toEqual({
        id: 1,
        title: 'Hello',
        body: 'World',
        level: 'critical',
        data: { a: [1, 'two'] },
        timestamp: new Date(START).toISOString(),
        read: false,
      });
      expect(door.calls).toEqual([
        { kind: 'notifications', notifications: [stored], to: 'everyone', storedIds: [1] },
      ]);
      expect(registry.asked).toEqual(['*']);
    });

    it('takes a DTO as it arrives: every recipient field present, the unused ones undefined', async () => {
      const request = { userId: 'alice', userIds: undefined, broadcast: undefined, ...notice };
      expect(await service.notify(request as NotifyRequest)).toEqual({ targetedConnections: 0, stored: 1 });
      const many = { userId: undefined, userIds: ['alice', 'bob'], broadcast: undefined, ...notice };
      expect(await service.notify(many as NotifyRequest)).toEqual({ targetedConnections: 0, stored: 2 });
      const everyone = { userId: undefined, userIds: undefined, broadcast: true, ...notice };
      expect(await service.notify(everyone as NotifyRequest)).toEqual({ targetedConnections: 0, stored: 1 });
      expect(repository.storedNotifications().map((notification) => notification.userId)).toEqual([
        'alice',
        'alice',
        'bob',
        undefined,
      ]);
    });

    it('reaches the other instances, which deliver to their own connections', async () => {
      const other = instance(repository, registry, clock);

      await service.notify({ userId: 'alice', ...notice });

      const [stored] = repository.storedNotifications();
      expect(other.door.calls).toEqual([
        { kind: 'notifications', notifications: [stored], to: ['alice'], storedIds: [1] },
      ]);
      expect(main.adapter.sent).toHaveLength(1);
      other.service.onModuleDestroy();
    });

    it('sends nothing to other instances without Redis, where there are none', async () => {
      const alone = instance(repository, registry, clock, standaloneConfig);
      const other = instance(repository, registry, clock);

      await alone.service.notify({ userId: 'alice', ...notice });

      expect(alone.door.calls).toHaveLength(1);
      expect(alone.adapter.sent).toEqual([]);
      expect(other.door.calls).toEqual([]);
      alone.service.onModuleDestroy();
      other.service.onModuleDestroy();
    });

    it('delivers nothing and answers the failure when storing fails', async () => {
      repository.failNextInsert = new Error('database gone');

      await expect(service.notify({ userId: 'alice', ...notice })).rejects.toThrow('database gone');

      expect(door.calls).toEqual([]);
      expect(main.adapter.sent).toEqual([]);
      expect(registry.asked).toEqual([]);
    });

    describe('refuses, storing and delivering nothing', () => {
      const EXACTLY_ONE = 'exactly one of userId, userIds and broadcast is required';
      const BAD_RECIPIENTS: [
        what: string,
        recipients: Record<string, unknown>,
        field: string,
        message: string,
      ][] = [
        ['no recipient', {}, 'userId', EXACTLY_ONE],
        ['userId and userIds', { userId: 'a', userIds: ['b'] }, 'userIds', EXACTLY_ONE],
        ['userId and broadcast', { userId: 'a', broadcast: true }, 'broadcast', EXACTLY_ONE],
        ['userIds and broadcast', { userIds: ['a'], broadcast: true }, 'broadcast', EXACTLY_ONE],
        ['broadcast: false', { broadcast: false }, 'broadcast', 'broadcast must be true'],
        ['no user ids', { userIds: [] }, 'userIds', 'between 1 and 1000 user ids'],
        [
          `${NotificationsLimits.maxUserIds + 1} user ids`,
          { userIds: Array.from({ length: NotificationsLimits.maxUserIds + 1 }, (_, index) => `u${index}`) },
          'userIds',
          'between 1 and 1000 user ids',
        ],
        ['userIds that is not an array', { userIds: 'alice' }, 'userIds', 'between 1 and 1000 user ids'],
        ['a null userId', { userId: null }, 'userId', 'a user id is a string of 1 to 256 characters'],
        ['an empty userId', { userId: '' }, 'userId', 'a user id is a string of 1 to 256 characters'],
        [
          'a userId over 256 characters',
          { userId: 'u'.repeat(257) },
          'userId',
          'a user id is a string of 1 to 256 characters',
        ],
        [
          'userIds holding a number',
          { userIds: ['alice', 7] },
          'userIds',
          'a user id is a string of 1 to 256 characters',
        ],
      ];

      it.each(BAD_RECIPIENTS)('%s', async (_what, recipients, field, message) => {
        const error = await expectInvalid(
          service.notify({ ...recipients, ...notice } as unknown as NotifyRequest),
          field,
        );
        expect(error.message).toBe(message);
        const sent = await expectInvalid(
          service.sendMessage({ ...recipients, type: 't' } as unknown as SendMessageToUsersRequest),
          field,
        );
        expect(sent.message).toBe(message);
        expect(repository.storedNotifications()).toEqual([]);
        expect(door.calls).toEqual([]);
      });

      it('accepts exactly the most user ids', async () => {
        const userIds = Array.from({ length: NotificationsLimits.maxUserIds }, (_, index) => `u${index}`);
        expect((await service.notify({ userIds, ...notice })).stored).toBe(NotificationsLimits.maxUserIds);
      });

      it.each([
        ['a blank title', { title: ' \t\n' }, 'title'],
        ['an empty title', { title: '' }, 'title'],
        ['a title over 200 characters', { title: 't'.repeat(201) }, 'title'],
        ['a title that is not text', { title: 42 }, 'title'],
        ['a blank body', { body: '   ' }, 'body'],
        ['a body over 4000 characters', { body: 'b'.repeat(4001) }, 'body'],
      ])('%s', async (_what, change, field) => {
        await expectInvalid(
          service.notify({ userId: 'alice', ...notice, ...change } as unknown as NotifyRequest),
          field,
        );
        expect(repository.storedNotifications()).toEqual([]);
        expect(door.calls).toEqual([]);
      });

      it('accepts a title and a body of exactly the most characters', async () => {
        await service.notify({ userId: 'alice', title: 't'.repeat(200), body: 'b'.repeat(4000) });
        expect(repository.storedNotifications()).toHaveLength(1);
      });
    });
  });

  describe('data size', () => {
    const LIMIT = NotificationsLimits.maxDataBytes;

    it.each([
      ['ASCII', 'x'],
      ['two-byte characters, counted in bytes', 'é'],
    ])(`takes exactly ${LIMIT} bytes of JSON and refuses one more (%s)`, async (_what, char) => {
      const fits = dataOfSize(char === 'x' ? LIMIT : LIMIT - 1, char);
      const over = char === 'x' ? dataOfSize(LIMIT + 1) : { text: `${fits.text}é` };
      expect(Buffer.byteLength(JSON.stringify(over))).toBeGreaterThan(LIMIT);

      expect((await service.notify({ userId: 'alice', ...notice, data: fits })).stored).toBe(1);
      expect((await service.sendMessage({ userId: 'alice', type: 't', data: fits })).stored).toBe(0);
      expect((await service.publishEvent({ type: 'a.b', userId: 'alice', data: fits })).stored).toBe(0);

      await expectInvalid(service.notify({ userId: 'alice', ...notice, data: over }), 'data');
      await expectInvalid(service.sendMessage({ userId: 'alice', type: 't', data: over }), 'data');
      await expectInvalid(service.publishEvent({ type: 'a.b', userId: 'alice', data: over }), 'data');
      expect(repository.storedNotifications()).toHaveLength(1);
      expect(door.calls.map((call) => call.kind)).toEqual(['notifications', 'message']);
    });
  });

  describe('sendMessage', () => {
    it('delivers the flat message live to each user once and stores nothing', async () => {
      registry.perUser.set('alice', 3);

      const result = await service.sendMessage({
        userIds: ['alice', 'bob', 'alice'],
        type: 'order.shipped',
        data: { order: 7 },
      });

      expect(result).toEqual({ targetedConnections: 3, stored: 0 });
      expect(door.calls).toEqual([
        {
          kind: 'message',
          message: { type: 'order.shipped', data: { order: 7 }, timestamp: new Date(START).toISOString() },
          to: ['alice', 'bob'],
        },
      ]);
      expect(repository.storedNotifications()).toEqual([]);
    });

    it('to everyone, with null data when none is given', async () => {
      registry.total = 5;
      expect(await service.sendMessage({ broadcast: true, type: 'hello' })).toEqual({
        targetedConnections: 5,
        stored: 0,
      });
      expect(door.calls).toEqual([
        {
          kind: 'message',
          message: { type: 'hello', data: null, timestamp: new Date(START).toISOString() },
          to: 'everyone',
        },
      ]);
    });

    it.each([
      ['an empty type', ''],
      ['a blank type', '  '],
      [`a type over ${NotificationsLimits.maxMessageTypeLength} characters`, 't'.repeat(101)],
      ['a type that is not text', 7],
    ])('refuses %s', async (_what, type) => {
      await expectInvalid(
        service.sendMessage({ userId: 'alice', type } as SendMessageToUsersRequest),
        'type',
      );
      expect(door.calls).toEqual([]);
    });
  });

  describe('publishEvent', () => {
    function subscribeAll() {
      const alice = subscriber('alice');
      const bob = subscriber('bob');
      const admin = subscriber('root', true);
      main.delivery.events.subscribe(alice, ['*']);
      main.delivery.events.subscribe(bob, ['*']);
      main.delivery.events.subscribe(admin, ['*'], 'all');
      return { alice, bob, admin };
    }

    it("publishes an event about a user to that user and to admins following everyone's", async () => {
      const { alice, bob, admin } = subscribeAll();
      registry.perUser.set('alice', 2);

      const published = await service.publishEvent({
        type: 'session.revoked',
        userId: 'alice',
        sessionId: 'session-1',
        data: { reason: 'admin' },
      });

      const event: PublishedEvent = {
        id: expect.stringMatching(UUID),
        type: 'session.revoked',
        userId: 'alice',
        sessionId: 'session-1',
        data: { reason: 'admin' },
        timestamp: new Date(START).toISOString(),
      };
      expect(published).toEqual({ event, targetedConnections: 2, stored: 0 });
      expect(Object.keys(published.event).sort()).toEqual(
        ['data', 'id', 'sessionId', 'timestamp', 'type', 'userId'].sort(),
      );
      expect(alice.received).toEqual([published.event]);
      expect(admin.received).toEqual([published.event]);
      expect(bob.received).toEqual([]);
      expect(repository.storedNotifications()).toEqual([]);
    });

    it('publishes a broadcast to every subscriber, with no userId, counting every connection', async () => {
      const { alice, bob, admin } = subscribeAll();
      registry.total = 9;

      const published = await service.publishEvent({ type: 'system.maintenance.scheduled', broadcast: true });

      expect(published.event).toEqual({
        id: expect.stringMatching(UUID),
        type: 'system.maintenance.scheduled',
        data: {},
        timestamp: new Date(START).toISOString(),
      });
      expect(published.targetedConnections).toBe(9);
      for (const each of [alice, bob, admin]) expect(each.received).toEqual([published.event]);
    });

    it('publishes an event with no user and no broadcast to admins only, targeting no counted connection', async () => {
      const { alice, bob, admin } = subscribeAll();

      const published = await service.publishEvent({
        type: 'security.rate_limit.exceeded',
        data: { address: '203.0.113.9', count: 12 },
      });

      expect(published.targetedConnections).toBe(0);
      expect(admin.received).toEqual([published.event]);
      expect(alice.received).toEqual([]);
      expect(bob.received).toEqual([]);
      expect(registry.asked).toEqual([]);
    });

    it('reaches subscribers of the other instances', async () => {
      const other = instance(repository, registry, clock);
      const alice = subscriber('alice');
      other.delivery.events.subscribe(alice, ['security.*']);

      const published = await service.publishEvent({ type: 'security.origin.refused', userId: 'alice' });

      expect(alice.received).toEqual([published.event]);
      other.service.onModuleDestroy();
    });

    it.each([
      ['an empty type', ''],
      ['an empty segment', 'security..refused'],
      ['a trailing dot', 'security.'],
      ['a wildcard', 'security.*'],
      ['a space', 'security refused'],
      ['nine segments', 'a.b.c.d.e.f.g.h.i'],
      ['a segment of 65 characters', `a.${'b'.repeat(65)}`],
      ['a number', 42],
      ['null', null],
    ])('refuses an event type with %s', async (_what, type) => {
      const { admin } = subscribeAll();
      await expectInvalid(service.publishEvent({ type } as unknown as { type: string }), 'type');
      expect(admin.received).toEqual([]);
    });

    it('accepts eight segments of 64 characters', async () => {
      const type = Array.from({ length: 8 }, () => 's'.repeat(64)).join('.');
      expect((await service.publishEvent({ type, broadcast: true })).event.type).toBe(type);
    });

    it('refuses a userId together with broadcast', async () => {
      const { admin } = subscribeAll();
      await expectInvalid(
        service.publishEvent({ type: 'a.b', userId: 'alice', broadcast: true }),
        'broadcast',
      );
      expect(admin.received).toEqual([]);
    });
  });

  describe('idempotency', () => {
    const key = { idempotencyKey: 'key-1', actorId: 'publisher' };

    it('answers a retry with the first result, storing and delivering once', async () => {
      registry.perUser.set('alice', 1);
      const first = await service.notify({ userId: 'alice', ...notice }, key);
      registry.perUser.set('alice', 5);
      clock.set(START + 1000);

      const again = await service.notify({ userId: 'alice', ...notice }, key);

      expect(again).toEqual(first);
      expect(first).toEqual({ targetedConnections: 1, stored: 1 });
      expect(repository.storedNotifications()).toHaveLength(1);
      expect(door.calls).toHaveLength(1);
    });

    it('answers the first event again, with the same id, publishing once', async () => {
      const alice = subscriber('alice');
      main.delivery.events.subscribe(alice, ['*']);

      const first = await service.publishEvent({ type: 'a.b', userId: 'alice' }, key);
      const again = await service.publishEvent({ type: 'a.b', userId: 'alice' }, key);

      expect(again).toEqual(first);
      expect(alice.received).toEqual([first.event]);
    });

    it('sends a message once per key', async () => {
      await service.sendMessage({ userId: 'alice', type: 't' }, key);
      await service.sendMessage({ userId: 'alice', type: 't' }, key);
      expect(door.calls).toHaveLength(1);
    });

    it("keeps each actor's keys apart, and publishes every time without a key", async () => {
      await service.notify({ userId: 'alice', ...notice }, key);
      await service.notify({ userId: 'alice', ...notice }, { ...key, actorId: 'another-publisher' });
      await service.notify({ userId: 'alice', ...notice }, { ...key, idempotencyKey: 'key-2' });
      await service.notify({ userId: 'alice', ...notice });
      await service.notify({ userId: 'alice', ...notice });
      expect(repository.storedNotifications()).toHaveLength(5);
    });

    it('answers CONFLICT while the first publish with the key is still running, then its result', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const insert = repository.insert.bind(repository);
      jest.spyOn(repository, 'insert').mockImplementationOnce(async (notifications) => {
        await gate;
        return insert(notifications);
      });

      const first = service.notify({ userId: 'alice', ...notice }, key);
      const conflict = await failureOf(service.notify({ userId: 'alice', ...notice }, key));
      expect(conflict.toBody()).toEqual({
        code: 'CONFLICT',
        message: 'A publish with Idempotency-Key "key-1" is still in progress',
      });
      expect(door.calls).toEqual([]);

      release();
      const result = await first;
      expect(await service.notify({ userId: 'alice', ...notice }, key)).toEqual(result);
      expect(repository.storedNotifications()).toHaveLength(1);
    });

    it('releases the key of a publish that failed, so that a retry runs it', async () => {
      repository.failNextInsert = new Error('database gone');
      await expect(service.notify({ userId: 'alice', ...notice }, key)).rejects.toThrow('database gone');

      expect(await service.notify({ userId: 'alice', ...notice }, key)).toEqual({
        targetedConnections: 0,
        stored: 1,
      });
      expect(door.calls).toHaveLength(1);
    });

    it('releases the key of a refused publish', async () => {
      await expectInvalid(service.notify({ userId: 'alice', title: '', body: 'b' }, key), 'title');
      expect((await service.notify({ userId: 'alice', ...notice }, key)).stored).toBe(1);
    });
  });

  describe('inbox and read state', () => {
    it("shows a user their own and everyone's notifications, newest first, with the unread count", async () => {
      await service.notify({ userId: 'alice', title: 'one', body: 'b' });
      await service.notify({ userId: 'bob', title: 'not hers', body: 'b' });
      await service.notify({ broadcast: true, title: 'everyone', body: 'b' });
      await service.notify({ userId: 'alice', title: 'three', body: 'b' });

      const page = await service.inbox('alice', {});
      expect(page.notifications.map((notification) => notification.title)).toEqual([
        'three',
        'everyone',
        'one',
      ]);
      expect(page).toMatchObject({ hasMore: false, unreadCount: 3 });
      const older = await service.inbox('alice', { before: 3, limit: 1 });
      expect(older.notifications.map((notification) => notification.title)).toEqual(['one']);
      expect(older).toMatchObject({ hasMore: false, unreadCount: 3 });
      expect(await service.unreadCount('bob')).toBe(2);
    });

    it('asks for at most the largest page', async () => {
      const inbox = jest.spyOn(repository, 'inbox');
      const after = jest.spyOn(repository, 'after');
      await service.inbox('alice', { limit: 10_000 });
      await service.inbox('alice', {});
      await service.sync('alice', 0, 10_000);
      await service.sync('alice', 0);
      expect(inbox.mock.calls.map(([, query]) => query.limit)).toEqual([
        NotificationsLimits.maxPageSize,
        NotificationsLimits.defaultPageSize,
      ]);
      expect(after.mock.calls.map(([, , limit]) => limit)).toEqual([
        NotificationsLimits.maxPageSize,
        NotificationsLimits.defaultPageSize,
      ]);
    });

    it("marks one read and tells the user's devices; another user's answers exactly as an unknown id", async () => {
      await service.notify({ userId: 'alice', ...notice });
      await service.notify({ broadcast: true, ...notice });
      door.calls.length = 0;

      expect(await service.markRead('alice', 1)).toMatchObject({ id: 1, userId: 'alice', read: true });
      expect(await service.markRead('bob', 2)).toMatchObject({ id: 2, read: true });
      expect(await service.unreadCount('alice')).toBe(1);
      expect(await service.unreadCount('bob')).toBe(0);
      const foreign = await failureOf(service.markRead('bob', 1));
      const unknown = await failureOf(service.markRead('bob', 99));
      expect(foreign.toBody()).toEqual({ code: 'NOT_FOUND', message: 'Notification 1 not found' });
      expect(unknown.toBody()).toEqual({ code: 'NOT_FOUND', message: 'Notification 99 not found' });
      expect(door.calls).toEqual([
        { kind: 'read', userId: 'alice', change: { id: 1 } },
        { kind: 'read', userId: 'bob', change: { id: 2 } },
      ]);
    });

    it("marks all read and tells the user's devices, once there was something to mark", async () => {
      await service.notify({ userIds: ['alice', 'bob'], ...notice });
      await service.notify({ broadcast: true, ...notice });
      door.calls.length = 0;

      expect(await service.markAllRead('alice')).toEqual({ read: 2 });
      expect(await service.markAllRead('alice')).toEqual({ read: 0 });
      expect(await service.unreadCount('alice')).toBe(0);
      expect(await service.unreadCount('bob')).toBe(2);
      expect(door.calls).toEqual([{ kind: 'read', userId: 'alice', change: { readAll: 2 } }]);
    });

    it('syncs what was stored after a notification, oldest first', async () => {
      for (const title of ['one', 'two', 'three'])
        await service.notify({ userId: 'alice', title, body: 'b' });
      await service.notify({ userId: 'bob', title: 'not hers', body: 'b' });

      const synced = await service.sync('alice', 1);
      expect(synced.notifications.map((notification) => notification.title)).toEqual(['two', 'three']);
      expect(synced.hasMore).toBe(false);
      expect((await service.sync('alice', 1, 1)).hasMore).toBe(true);
    });
  });

  describe('retention', () => {
    it(`deletes notifications older than NOTIFICATIONS_RETENTION_DAYS (${RETENTION_DAYS}) and receipts older than a day, hourly`, async () => {
      jest.useFakeTimers({ now: START });
      const deleteNotifications = jest.spyOn(repository, 'deleteCreatedBefore');
      const deleteReceipts = jest.spyOn(repository, 'deleteReceiptsBefore');
      service.onModuleInit();

      await jest.advanceTimersByTimeAsync(60 * 60 * 1000 - 1);
      expect(deleteNotifications).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1);

      expect(deleteNotifications).toHaveBeenCalledWith(new Date(START - RETENTION_DAYS * DAY_MS));
      expect(deleteReceipts).toHaveBeenCalledWith(new Date(START - DAY_MS));
    });
  });
});
