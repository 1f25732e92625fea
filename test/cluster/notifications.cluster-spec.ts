import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import type { Envelope } from '../../src/common/envelope.js';
import type { NotificationsClientEvents, NotificationsServerEvents } from '../../src/contracts/index.js';
import type {
  LiveMessage,
  Notification,
  PublishedEvent,
} from '../../src/notifications/notifications.events.js';
import type { SyncRequiredPayload } from '../../src/realtime/realtime.events.js';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { ackData, stopStarted } from '../support/cluster.js';
import { Conditions } from '../support/conditions.js';
import { client, closeAll, connected, nextEvent } from '../support/clients.js';
import { closeClients, EventsClient } from '../support/events-websocket-client.js';
import { describeWithPostgres, startPostgres } from '../support/postgres.js';
import { describeWithRedis, startRedis } from '../support/redis-server.js';
import { signToken } from '../support/tokens.js';

type NotificationsSocket = Socket<NotificationsServerEvents, NotificationsClientEvents>;
type RunningRedis = Awaited<ReturnType<typeof startRedis>>;
type RunningPostgres = Awaited<ReturnType<typeof startPostgres>>;

const ENV = {
  REDIS_KEY_PREFIX: 'notifications-cluster-test:',
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_EVENTS_PER_S: '0',
  RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
  RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
  RESYNC_SPREAD_MS: '200',
};
const START_TIMEOUT_MS = 120_000;
const OUTAGE_TEST_TIMEOUT_MS = 60_000;
const REDIS_NOTICE_LIMIT_MS = 15_000;

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const publisher = { Authorization: `Bearer ${signToken({ sub: 'publisher', roles: ['service'] })}` };

/** Everything a `/notifications` socket receives, in order, awaitable. */
class Received {
  readonly items: { event: string; payload: unknown }[] = [];
  private readonly conditions = new Conditions();

  constructor(socket: Socket) {
    socket.onAny((event: string, payload: unknown) => {
      this.items.push({ event, payload });
      this.conditions.changed();
    });
  }

  of<T>(event: string): T[] {
    return this.items.filter((item) => item.event === event).map((item) => item.payload as T);
  }

  until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return this.conditions.until(
      condition,
      () => `${what}; received ${JSON.stringify(this.items)}`,
      timeoutMs,
    );
  }
}

describeWithPostgres('notifications across a cluster of instances', () => {
  describeWithRedis('two instances sharing one Redis and one PostgreSQL', () => {
    let redis: RunningRedis | undefined;
    let postgres: RunningPostgres | undefined;
    let a: AppProcess;
    let b: AppProcess;
    const starting: Promise<AppProcess>[] = [];
    const sockets: Socket[] = [];
    const doors: EventsClient[] = [];
    const report: string[] = [];

    async function open(
      instance: AppProcess,
      userId: string,
      roles: string[] = [],
    ): Promise<{ socket: NotificationsSocket; received: Received }> {
      const socket = client(instance.url, '/notifications', {
        auth: { token: signToken({ sub: userId, roles }) },
      }) as NotificationsSocket;
      sockets.push(socket);
      const received = new Received(socket);
      await connected(socket);
      return { socket, received };
    }

    async function notify(
      instance: AppProcess,
      body: Record<string, unknown>,
    ): Promise<{ targetedConnections: number; stored: number }> {
      const response = await request(instance.url).post('/api/notifications').set(publisher).send(body);
      expect(response.status).toBe(201);
      return (response.body as { data: { targetedConnections: number; stored: number } }).data;
    }

    beforeAll(async () => {
      [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
      const start = (serverId: string) => {
        const instance = startAppProcess({
          serverId,
          redisUrl: redis!.url,
          env: { ...ENV, DATABASE_URL: postgres!.connectionString },
        });
        starting.push(instance);
        return instance;
      };
      [a, b] = await Promise.all([start('notifications-a'), start('notifications-b')]);
    }, START_TIMEOUT_MS);

    afterEach(async () => {
      await closeAll(sockets);
      await closeClients(doors.splice(0));
    });

    afterAll(async () => {
      await closeAll(sockets);
      await stopStarted(starting);
      await Promise.allSettled([redis?.stop(), postgres?.stop()]);
      if (report.length > 0) console.info(`Notifications across a cluster:\n  ${report.join('\n  ')}`);
    }, START_TIMEOUT_MS);

    it('delivers events, notifications and messages published on A to subscribers on B, over both doors', async () => {
      const alice = newUser('alice');
      const onB = await open(b, alice);
      const admin = await open(b, newUser('admin'), ['admin']);
      expect(ackData(await onB.socket.emitWithAck('subscribe', { eventTypes: ['security.*'] }))).toEqual({
        eventTypes: ['security.*'],
        scope: 'own',
      });
      ackData(await admin.socket.emitWithAck('subscribe', { eventTypes: ['*'], scope: 'all' }));
      const { client: door } = await EventsClient.open(b.port, { query: signToken({ sub: alice }) });
      doors.push(door);
      expect((await door.request('subscribe', { eventTypes: ['security.*'] })).type).toBe('subscribed');

      const published = await request(a.url)
        .post('/api/events')
        .set(publisher)
        .send({ type: 'security.suspicious_activity', userId: alice, data: { reason: 'test' } });
      expect(published.status).toBeLessThan(300);
      await onB.received.until(() => onB.received.of('event').length === 1, 'the event on B');
      const [event] = onB.received.of<PublishedEvent>('event');
      expect(event).toEqual({
        id: expect.any(String),
        type: 'security.suspicious_activity',
        userId: alice,
        data: { reason: 'test' },
        timestamp: expect.any(String),
      });
      await admin.received.until(
        () => admin.received.of<PublishedEvent>('event').some((received) => received.id === event?.id),
        "the event on B's admin",
      );
      expect(await door.next()).toEqual({ type: 'event', payload: event });

      const result = await notify(a, { userId: alice, title: 'Hello', body: 'from A' });
      expect(result.stored).toBe(1);
      // Her Socket.IO connection and her plain WebSocket, both on B.
      expect(result.targetedConnections).toBe(2);
      expect((await door.next('notification')).payload).toMatchObject({ userId: alice, title: 'Hello' });
      await onB.received.until(() => onB.received.of('notification').length === 1, 'the notification on B');
      const [notification] = onB.received.of<Envelope<'notification', Notification>>('notification');
      expect(notification?.data).toMatchObject({
        userId: alice,
        title: 'Hello',
        body: 'from A',
        level: 'info',
        read: false,
      });

      const message = await request(a.url)
        .post('/api/messages')
        .set(publisher)
        .send({ userIds: [alice], type: 'order.shipped', data: { order: 7 } });
      expect(message.status).toBeLessThan(300);
      await onB.received.until(() => onB.received.of('message').length === 1, 'the message on B');
      expect(onB.received.of<LiveMessage>('message')[0]).toEqual({
        type: 'order.shipped',
        data: { order: 7 },
        timestamp: expect.any(String),
      });
    });

    it(
      'returns through notifications:sync exactly the notifications live delivery dropped during a Redis outage, once each',
      async () => {
        const bob = newUser('bob');
        const onB = await open(b, bob);
        const before = await notify(a, { userId: bob, title: 'before', body: 'the outage' });
        expect(before.stored).toBe(1);
        await onB.received.until(
          () => onB.received.of('notification').length === 1,
          'the first notification',
        );
        const lastLive = onB.received.of<Envelope<'notification', Notification>>('notification')[0]!.data.id;

        const server = redis!;
        const lost = [a, b].map((instance) =>
          instance.waitForLine(/Redis connection "adapter-sub" lost/, REDIS_NOTICE_LIMIT_MS),
        );
        await server.kill();
        await Promise.all(lost);
        const titles: string[] = [];
        for (let index = 1; index <= 5; index++) {
          titles.push(`during ${index}`);
          expect(
            (await notify(a, { userId: bob, title: `during ${index}`, body: 'the outage' })).stored,
          ).toBe(1);
        }
        const signalled = nextEvent<Envelope<'sync:required', SyncRequiredPayload>>(
          onB.socket,
          'sync:required',
          REDIS_NOTICE_LIMIT_MS,
        );
        await server.restart();
        await signalled;

        const live = onB.received
          .of<Envelope<'notification', Notification>>('notification')
          .map((envelope) => envelope.data.id);
        const synced = ackData(await onB.socket.emitWithAck('notifications:sync', { afterId: lastLive }));
        expect(synced.hasMore).toBe(false);
        expect(synced.notifications.map((notification) => notification.title)).toEqual(titles);
        const ids = synced.notifications.map((notification) => notification.id);
        expect(new Set(ids).size).toBe(ids.length);
        report.push(
          `Redis outage: ${titles.length} notifications stored during it; ${live.length - 1} arrived live on B, ` +
            `notifications:sync returned ${synced.notifications.length}, once each`,
        );
      },
      OUTAGE_TEST_TIMEOUT_MS,
    );
  });
});
