import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import type { Envelope } from '../../src/common/envelope.js';
import {
  PresenceEvent,
  type ChosenStatus,
  type PresenceChange,
  type PresenceClientToServerEvents,
  type PresenceServerToClientEvents,
  type PresenceState,
} from '../../src/presence/presence.events.js';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { ackData, stopStarted } from '../support/cluster.js';
import { client, closeAll, connected, disconnected } from '../support/clients.js';
import { ms, pollUntil } from '../support/polling.js';
import { describeWithPostgres, startPostgres } from '../support/postgres.js';
import { describeWithRedis, startRedis } from '../support/redis-server.js';
import { signToken } from '../support/tokens.js';

type PresenceSocket = Socket<PresenceServerToClientEvents, PresenceClientToServerEvents>;
type RunningRedis = Awaited<ReturnType<typeof startRedis>>;
type RunningPostgres = Awaited<ReturnType<typeof startPostgres>>;
type ChangeEvent = (typeof CHANGE_EVENTS)[number];

/** One presence change as a socket received it, with when it arrived. */
interface Received {
  event: ChangeEvent;
  envelope: Envelope<ChangeEvent, PresenceChange>;
  /** `performance.now()` at arrival, for durations measured in the test. */
  at: number;
  /** `Date.now()` at arrival, to compare with the server's timestamps (same machine). */
  wallAt: number;
}

interface Observer {
  userId: string;
  socket: PresenceSocket;
  inbox: PresenceInbox;
}

const PRESENCE_TTL_MS = 3000;
const PRESENCE_GRACE_MS = 1000;
const ENV = {
  PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
  PRESENCE_GRACE_MS: String(PRESENCE_GRACE_MS),
  REDIS_KEY_PREFIX: 'presence-cluster-test:',
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_EVENTS_PER_S: '0',
  // Case 4 polls REST on both instances for a whole TTL.
  RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
  RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
};
const CHANGE_EVENTS = [PresenceEvent.Online, PresenceEvent.Offline, PresenceEvent.Status] as const;

const START_TIMEOUT_MS = 120_000;
const CASE_TIMEOUT_MS = 60_000;
/** A change between two instances travels through Redis pub/sub: well below this on a busy machine. */
const DELIVERY_LIMIT_MS = 5000;
/** The budget: offline seen within PRESENCE_TTL_MS of a SIGKILL, reported, failed past +2 s. */
const SIGKILL_BUDGET_MS = PRESENCE_TTL_MS + 2000;
/** The presence tick and the heartbeat run every TTL/3 at most; a late timer on a busy machine. */
const SWEEP_MARGIN_MS = 1000;
const REDIS_NOTICE_LIMIT_MS = 15_000;
const REST_POLL_INTERVAL_MS = 200;
const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const bearer = (userId: string) => ({ Authorization: `Bearer ${signToken({ sub: userId })}` });

/** Every presence change a socket receives, in order, with a way to wait for one still to come. */
class PresenceInbox {
  readonly received: Received[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(socket: Socket) {
    socket.onAny((event: string, envelope: Envelope<ChangeEvent, PresenceChange>) => {
      if (!(CHANGE_EVENTS as readonly string[]).includes(event)) return;
      this.received.push({
        event: event as ChangeEvent,
        envelope,
        at: performance.now(),
        wallAt: Date.now(),
      });
      for (const waiter of [...this.waiters]) waiter();
    });
  }

  /** The changes of `event` about `userId` received so far. */
  of(event: ChangeEvent, userId: string): Received[] {
    return this.received.filter((entry) => entry.event === event && entry.envelope.data.userId === userId);
  }

  /** The first change of `event` about `userId` satisfying `matches`, received already or to come. */
  waitFor(
    event: ChangeEvent,
    userId: string,
    matches: (data: PresenceChange) => boolean = () => true,
    timeoutMs = DELIVERY_LIMIT_MS,
  ): Promise<Received> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.of(event, userId).find((entry) => matches(entry.envelope.data));
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `No matching "${event}" of ${userId} within ${timeoutMs} ms; received: ${JSON.stringify(
              this.received.map((entry) => ({ event: entry.event, ...entry.envelope.data })),
            )}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

describeWithPostgres('presence across a cluster of instances', () => {
  describeWithRedis('two instances (and a third to crash) sharing one Redis and one PostgreSQL', () => {
    let redis: RunningRedis | undefined;
    let postgres: RunningPostgres | undefined;
    let a: AppProcess;
    let b: AppProcess;
    const starting: Promise<AppProcess>[] = [];
    const sockets: Socket[] = [];
    const report: string[] = [];

    function startInstance(serverId: string): Promise<AppProcess> {
      if (!redis || !postgres) throw new Error('Redis and PostgreSQL are not started');
      const instance = startAppProcess({
        serverId,
        redisUrl: redis.url,
        env: { ...ENV, DATABASE_URL: postgres.connectionString },
      });
      starting.push(instance);
      return instance;
    }

    /** A device of `userId` on `instance`, connected and authenticated on `namespace`. */
    async function open(
      instance: AppProcess,
      userId: string,
      namespace = '/presence',
    ): Promise<PresenceSocket> {
      const socket = client(instance.url, namespace, {
        auth: { token: signToken({ sub: userId }) },
      }) as PresenceSocket;
      sockets.push(socket);
      await connected(socket);
      return socket;
    }

    /** A user on `instance`'s `/presence` subscribed to `userIds`, none of whom is online yet. */
    async function observe(instance: AppProcess, userIds: string[]): Promise<Observer> {
      const userId = newUser('observer');
      const socket = await open(instance, userId);
      const inbox = new PresenceInbox(socket);
      const states = ackData(await socket.emitWithAck(PresenceEvent.Subscribe, { userIds }));
      expect(states).toEqual(
        userIds.map((id) => ({ userId: id, status: 'offline', online: false, lastSeenAt: null })),
      );
      return { userId, socket, inbox };
    }

    async function setStatus(socket: PresenceSocket, status: ChosenStatus): Promise<PresenceState> {
      return ackData(await socket.emitWithAck(PresenceEvent.Set, { status }));
    }

    /** `GET /api/presence/:userId` on `instance`, asked by `viewerId`. */
    async function restPresence(
      instance: AppProcess,
      viewerId: string,
      userId: string,
    ): Promise<{ message: string; data: PresenceState }> {
      const response = await request(instance.url).get(`/api/presence/${userId}`).set(bearer(viewerId));
      if (response.status !== 200) {
        throw new Error(
          `GET /api/presence/${userId} on ${instance.serverId} answered ${response.status}: ${JSON.stringify(response.body)}`,
        );
      }
      return response.body as { message: string; data: PresenceState };
    }

    /** Closes a device; resolves with `Date.now()` just before the close, once the client saw it close. */
    async function close(socket: Socket): Promise<number> {
      const gone = disconnected(socket);
      const closedAt = Date.now();
      socket.close();
      await gone;
      return closedAt;
    }

    /** The change a subscriber of `userId` is told, in its envelope. */
    function changeEnvelope(type: ChangeEvent, data: PresenceChange) {
      return { type, data, timestamp: expect.stringMatching(ISO_TIMESTAMP) };
    }

    beforeAll(async () => {
      [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
      [a, b] = await Promise.all([startInstance('presence-a'), startInstance('presence-b')]);
    }, START_TIMEOUT_MS);

    afterEach(async () => {
      await closeAll(sockets);
      if (redis && !redis.running) await redis.restart();
    }, START_TIMEOUT_MS);

    afterAll(async () => {
      await closeAll(sockets);
      await stopStarted(starting);
      await Promise.allSettled([redis?.stop(), postgres?.stop()]);
      if (report.length > 0) console.info(`Presence across a cluster:\n  ${report.join('\n  ')}`);
    }, START_TIMEOUT_MS);

    it(
      'shows a user coming online on A to a subscriber on B, and a status chosen on A as user:status on B',
      async () => {
        const alice = newUser('alice');
        const observer = await observe(b, [alice]);

        const connectingAt = performance.now();
        const aliceOnA = await open(a, alice);
        const online = await observer.inbox.waitFor(PresenceEvent.Online, alice);
        expect(online.envelope).toEqual(
          changeEnvelope(PresenceEvent.Online, { userId: alice, status: 'online', lastSeenAt: null }),
        );

        const settingAt = performance.now();
        expect(await setStatus(aliceOnA, 'away')).toEqual({
          userId: alice,
          status: 'away',
          online: true,
          lastSeenAt: null,
          connections: 1,
        });
        const status = await observer.inbox.waitFor(PresenceEvent.Status, alice);
        expect(status.envelope).toEqual(
          changeEnvelope(PresenceEvent.Status, { userId: alice, status: 'away', lastSeenAt: null }),
        );
        expect(observer.inbox.received.map(({ event }) => event)).toEqual([
          PresenceEvent.Online,
          PresenceEvent.Status,
        ]);
        expect(await restPresence(b, observer.userId, alice)).toEqual({
          message: 'Presence',
          data: { userId: alice, status: 'away', online: true, lastSeenAt: null },
        });
        report.push(
          `A → B: user:online ${ms(online.at - connectingAt)} after the connect began, ` +
            `user:status ${ms(status.at - settingAt)} after presence:set`,
        );
      },
      CASE_TIMEOUT_MS,
    );

    it(
      'takes a user with a device on each instance offline only after both closed and the grace passed, with lastSeenAt set',
      async () => {
        const [bob, dave, carol] = [newUser('bob'), newUser('dave'), newUser('carol')];
        const observer = await observe(b, [bob, dave, carol]);
        const bobOnA = await open(a, bob);
        await observer.inbox.waitFor(PresenceEvent.Online, bob);
        // Any namespace counts: the second device is on the default namespace of B.
        const bobOnB = await open(b, bob, '/');
        const daveOnA = await open(a, dave);
        const carolOnA = await open(a, carol);
        await observer.inbox.waitFor(PresenceEvent.Online, dave);
        await observer.inbox.waitFor(PresenceEvent.Online, carol);
        expect((await restPresence(a, bob, bob)).data).toEqual({
          userId: bob,
          status: 'online',
          online: true,
          lastSeenAt: null,
          connections: 2,
        });

        // Dave leaves with bob's device on A: his user:offline marks the end of that grace period.
        const [, daveClosedAt] = await Promise.all([close(bobOnA), close(daveOnA)]);
        const daveOffline = await observer.inbox.waitFor(
          PresenceEvent.Offline,
          dave,
          undefined,
          PRESENCE_GRACE_MS + DELIVERY_LIMIT_MS,
        );
        expect(daveOffline.wallAt - daveClosedAt).toBeGreaterThanOrEqual(PRESENCE_GRACE_MS);
        await setStatus(carolOnA, 'busy');
        await observer.inbox.waitFor(PresenceEvent.Status, carol, (data) => data.status === 'busy');
        expect(observer.inbox.of(PresenceEvent.Offline, bob)).toEqual([]);
        expect((await restPresence(a, observer.userId, bob)).data).toEqual({
          userId: bob,
          status: 'online',
          online: true,
          lastSeenAt: null,
        });

        const bobClosedAt = await close(bobOnB);
        const offline = await observer.inbox.waitFor(
          PresenceEvent.Offline,
          bob,
          undefined,
          PRESENCE_GRACE_MS + DELIVERY_LIMIT_MS,
        );
        expect(offline.envelope).toEqual(
          changeEnvelope(PresenceEvent.Offline, {
            userId: bob,
            status: 'offline',
            lastSeenAt: expect.stringMatching(ISO_TIMESTAMP),
          }),
        );
        const lastSeenAt = offline.envelope.data.lastSeenAt!;
        expect(offline.wallAt - bobClosedAt).toBeGreaterThanOrEqual(PRESENCE_GRACE_MS);
        expect(Date.parse(lastSeenAt)).toBeGreaterThanOrEqual(bobClosedAt);
        expect(Date.parse(lastSeenAt)).toBeLessThanOrEqual(offline.wallAt);
        // Stored in the shared database: A answers it, and so does B to bob himself.
        expect(await restPresence(a, observer.userId, bob)).toEqual({
          message: 'Presence',
          data: { userId: bob, status: 'offline', online: false, lastSeenAt },
        });
        expect((await restPresence(b, bob, bob)).data).toEqual({
          userId: bob,
          status: 'offline',
          online: false,
          lastSeenAt,
          connections: 0,
        });

        // Both instances race to end the grace period: one tells it, once.
        await setStatus(carolOnA, 'away');
        await observer.inbox.waitFor(PresenceEvent.Status, carol, (data) => data.status === 'away');
        expect(observer.inbox.of(PresenceEvent.Online, bob)).toHaveLength(1);
        expect(observer.inbox.of(PresenceEvent.Offline, bob)).toHaveLength(1);
        report.push(
          `two devices: user:offline ${ms(offline.wallAt - bobClosedAt)} after the last device closed ` +
            `(grace ${PRESENCE_GRACE_MS} ms)`,
        );
      },
      CASE_TIMEOUT_MS,
    );

    it(
      'takes the users of a gracefully stopped instance offline after the grace, not one connected elsewhere',
      async () => {
        const d = await startInstance('presence-d');
        const [kate, leo] = [newUser('kate'), newUser('leo')];
        const observer = await observe(b, [kate, leo]);
        await open(d, kate);
        await open(d, leo);
        await open(b, leo);
        for (const userId of [kate, leo]) await observer.inbox.waitFor(PresenceEvent.Online, userId);

        await d.stop();
        const offline = await observer.inbox.waitFor(
          PresenceEvent.Offline,
          kate,
          undefined,
          SIGKILL_BUDGET_MS,
        );
        expect(offline.envelope.data).toEqual({
          userId: kate,
          status: 'offline',
          lastSeenAt: expect.stringMatching(ISO_TIMESTAMP),
        });
        // A marker after another full grace: leo, still on B, never went offline.
        const markerSocket = await open(a, newUser('marker'));
        await setStatus(markerSocket, 'busy');
        await pollUntil(
          () => restPresence(a, observer.userId, leo),
          (answer) => answer.data.online,
          {
            what: 'leo online',
            timeoutMs: DELIVERY_LIMIT_MS,
          },
        );
        expect(observer.inbox.of(PresenceEvent.Offline, leo)).toEqual([]);
      },
      CASE_TIMEOUT_MS,
    );

    it(
      'takes the users of a crashed instance offline when it restarts under the same SERVER_ID at once',
      async () => {
        const e = await startInstance('presence-e');
        const mia = newUser('mia');
        const observer = await observe(b, [mia]);
        await open(e, mia);
        await observer.inbox.waitFor(PresenceEvent.Online, mia);

        await e.kill();
        const restarted = await startInstance('presence-e');
        const offline = await observer.inbox.waitFor(
          PresenceEvent.Offline,
          mia,
          undefined,
          PRESENCE_TTL_MS + PRESENCE_GRACE_MS + DELIVERY_LIMIT_MS,
        );
        expect(offline.envelope.data.userId).toBe(mia);
        expect((await restPresence(restarted, observer.userId, mia)).data).toMatchObject({
          online: false,
          status: 'offline',
        });
      },
      CASE_TIMEOUT_MS,
    );

    it(
      `takes the users of a SIGKILLed instance offline within PRESENCE_TTL_MS, but not one still connected elsewhere`,
      async () => {
        const c = await startInstance('presence-c');
        const [erin, frank, marker] = [newUser('erin'), newUser('frank'), newUser('marker')];
        const observer = await observe(b, [erin, frank, marker]);
        const markerOnA = await open(a, marker);
        await open(c, erin);
        await open(c, frank);
        await open(b, frank);
        for (const userId of [erin, frank, marker]) {
          await observer.inbox.waitFor(PresenceEvent.Online, userId);
        }
        await pollUntil(
          async () => (await restPresence(b, frank, frank)).data.connections,
          (connections) => connections === 2,
          { what: "frank's connections on C and B", timeoutMs: DELIVERY_LIMIT_MS },
        );

        const killedWallAt = Date.now();
        const killedAt = performance.now();
        await c.kill();
        const offline = await observer.inbox.waitFor(
          PresenceEvent.Offline,
          erin,
          undefined,
          SIGKILL_BUDGET_MS + DELIVERY_LIMIT_MS,
        );
        const killToOffline = offline.at - killedAt;
        const lastBeatBeforeKill = offline.envelope.data.lastSeenAt
          ? `, C's last heartbeat ${ms(killedWallAt - Date.parse(offline.envelope.data.lastSeenAt))} before the kill`
          : '';
        report.push(
          `SIGKILL of C → user:offline on B after ${ms(killToOffline)} ` +
            `(PRESENCE_TTL_MS ${PRESENCE_TTL_MS} ms, failing past ${SIGKILL_BUDGET_MS} ms${lastBeatBeforeKill})`,
        );
        expect(offline.envelope).toEqual(
          changeEnvelope(PresenceEvent.Offline, {
            userId: erin,
            status: 'offline',
            lastSeenAt: expect.stringMatching(ISO_TIMESTAMP),
          }),
        );
        // Last seen at C's last heartbeat, which was at most a TTL before the kill.
        const lastSeenAt = offline.envelope.data.lastSeenAt!;
        expect(Date.parse(lastSeenAt)).toBeLessThanOrEqual(killedWallAt);
        expect(Date.parse(lastSeenAt)).toBeGreaterThanOrEqual(killedWallAt - PRESENCE_TTL_MS);
        expect(killToOffline).toBeLessThanOrEqual(SIGKILL_BUDGET_MS);

        // The sweep that took erin offline looked at frank too; the marker follows it.
        await setStatus(markerOnA, 'busy');
        await observer.inbox.waitFor(PresenceEvent.Status, marker, (data) => data.status === 'busy');
        expect(observer.inbox.of(PresenceEvent.Offline, frank)).toEqual([]);
        expect((await restPresence(b, observer.userId, frank)).data).toEqual({
          userId: frank,
          status: 'online',
          online: true,
          lastSeenAt: null,
        });
        expect((await restPresence(a, observer.userId, erin)).data).toEqual({
          userId: erin,
          status: 'offline',
          online: false,
          lastSeenAt,
        });
        expect(observer.inbox.of(PresenceEvent.Offline, erin)).toHaveLength(1);
      },
      CASE_TIMEOUT_MS,
    );

    it(
      'is correct again within one TTL after Redis is killed and restarted, with no false offline, and takes a later leaver offline',
      async () => {
        const server = redis!;
        const [gina, hank, ivan, jill] = [newUser('gina'), newUser('hank'), newUser('ivan'), newUser('jill')];
        const stayers = [gina, hank, ivan];
        const everyone = [...stayers, jill];
        const observer = await observe(b, everyone);
        const ginaOnA = await open(a, gina);
        await open(b, hank);
        await open(a, ivan);
        await open(b, ivan);
        const jillOnA = await open(a, jill);
        for (const userId of everyone) await observer.inbox.waitFor(PresenceEvent.Online, userId);
        const receivedBefore = observer.inbox.received.length;

        const lost = [a, b].map((instance) =>
          instance.waitForLine(/Redis connection "commands" lost/, REDIS_NOTICE_LIMIT_MS),
        );
        await server.kill();
        await Promise.all(lost);
        // Both instances' presence upkeep ran into the outage before Redis comes back.
        await Promise.all(
          [a, b].map((instance) => instance.waitForLine(/Presence upkeep failed/, REDIS_NOTICE_LIMIT_MS)),
        );
        const back = [a, b].flatMap((instance) =>
          ['commands', 'adapter-pub', 'adapter-sub'].map((connection) =>
            instance.waitForLine(
              new RegExp(`Redis connection "${connection}" is back`),
              REDIS_NOTICE_LIMIT_MS,
            ),
          ),
        );
        await server.restart();
        const restartedAt = performance.now();
        await Promise.all(back);
        const backAt = performance.now();

        const everyoneOnline = async () => {
          const answers = await Promise.all(
            [a, b].flatMap((instance) =>
              everyone.map(async (userId) => (await restPresence(instance, observer.userId, userId)).data),
            ),
          );
          return answers.filter((state) => !(state.online && state.status === 'online'));
        };
        const settled = await pollUntil(everyoneOnline, (wrong) => wrong.length === 0, {
          what: 'the users still connected, as A and B answer over REST after the restart',
          timeoutMs: PRESENCE_TTL_MS,
          intervalMs: REST_POLL_INTERVAL_MS,
        });
        const settledMs = performance.now() - restartedAt;
        expect(settledMs).toBeLessThan(PRESENCE_TTL_MS);

        // Crashed instances are looked for again a TTL after the last failure: through that
        // moment, every answer must still say online.
        const watchUntil = backAt + PRESENCE_TTL_MS + SWEEP_MARGIN_MS;
        const watched = await pollUntil(
          async () => ({ wrong: await everyoneOnline(), at: performance.now() }),
          ({ wrong, at }) => wrong.length > 0 || at >= watchUntil,
          {
            what: 'presence a TTL after Redis came back',
            timeoutMs: PRESENCE_TTL_MS + SWEEP_MARGIN_MS + DELIVERY_LIMIT_MS,
            intervalMs: REST_POLL_INTERVAL_MS,
          },
        );
        expect(watched.value.wrong).toEqual([]);

        await setStatus(ginaOnA, 'busy');
        await observer.inbox.waitFor(PresenceEvent.Status, gina, (data) => data.status === 'busy');
        expect(everyone.flatMap((userId) => observer.inbox.of(PresenceEvent.Offline, userId))).toEqual([]);

        const jillClosedAt = await close(jillOnA);
        const offline = await observer.inbox.waitFor(
          PresenceEvent.Offline,
          jill,
          undefined,
          PRESENCE_GRACE_MS + DELIVERY_LIMIT_MS,
        );
        expect(offline.envelope).toEqual(
          changeEnvelope(PresenceEvent.Offline, {
            userId: jill,
            status: 'offline',
            lastSeenAt: expect.stringMatching(ISO_TIMESTAMP),
          }),
        );
        expect(offline.wallAt - jillClosedAt).toBeGreaterThanOrEqual(PRESENCE_GRACE_MS);
        expect(Date.parse(offline.envelope.data.lastSeenAt!)).toBeGreaterThanOrEqual(jillClosedAt);
        expect((await restPresence(b, observer.userId, jill)).data).toEqual({
          userId: jill,
          status: 'offline',
          online: false,
          lastSeenAt: offline.envelope.data.lastSeenAt,
        });

        // Since the outage began: the marker status and jill's offline, nothing else.
        expect(
          observer.inbox.received.slice(receivedBefore).map(({ event, envelope }) => ({
            event,
            userId: envelope.data.userId,
            status: envelope.data.status,
          })),
        ).toEqual([
          { event: PresenceEvent.Status, userId: gina, status: 'busy' },
          { event: PresenceEvent.Offline, userId: jill, status: 'offline' },
        ]);
        expect(sockets.filter((socket) => socket !== jillOnA).every((socket) => socket.connected)).toBe(true);
        report.push(
          `Redis outage: REST said online for every connected user ${ms(settledMs)} after Redis restarted ` +
            `(${ms(settled.elapsedMs)} after every Redis connection was back), and still did ${ms(watched.value.at - backAt)} after ` +
            `every connection was back; a leaver after it went offline ${ms(offline.wallAt - jillClosedAt)} after closing`,
        );
      },
      CASE_TIMEOUT_MS,
    );
  });
});
