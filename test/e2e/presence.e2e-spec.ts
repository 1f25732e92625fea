import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import type { Chat } from '../../src/chat/chat.types.js';
import type { AckResponse, Envelope } from '../../src/common/envelope.js';
import {
  PresenceEvent,
  PresenceLimits,
  type ChosenStatus,
  type PresenceChange,
  type PresenceClientEvents,
  type PresenceServerEvents,
  type PresenceState,
  type PresenceStatus,
} from '../../src/contracts/index.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected } from '../support/clients.js';
import { unauthorizedBody } from '../support/rest-errors.js';
import { signToken } from '../support/tokens.js';

type PresenceSocket = Socket<PresenceServerEvents, PresenceClientEvents>;
type ChangeEvent = typeof PresenceEvent.Online | typeof PresenceEvent.Offline | typeof PresenceEvent.Status;
type Failure = { ok: false; error: { code: string; message: string; details?: unknown } };

/** Short, so that tests wait for it; still far above a local round trip and a reconnect. */
const GRACE_MS = 300;
/** A timer may fire a millisecond early by the test's clock. */
const TIMER_SLACK_MS = 5;
const MAX_SUBSCRIPTIONS = 5;
/** Chats of up to 3 members are told automatically; 4 is "large". */
const CHAT_MAX_MEMBERS = 3;
const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const BASE_ENV = {
  PRESENCE_GRACE_MS: String(GRACE_MS),
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_EVENTS_PER_S: '0',
  RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
  RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
};
const CHANGE_EVENTS: ReadonlySet<string> = new Set([
  PresenceEvent.Online,
  PresenceEvent.Offline,
  PresenceEvent.Status,
]);

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const dataOf = <T>(response: { body: unknown }) => (response.body as { data: T }).data;
const bearer = (userId: string, roles: string[] = []) => ({
  Authorization: `Bearer ${signToken({ sub: userId, roles })}`,
});

/** How a user nobody may see, or nobody ever saw, is answered: indistinguishable from each other. */
const unseen = (userId: string): PresenceState => ({
  userId,
  status: 'offline',
  online: false,
  lastSeenAt: null,
});

function expectOk<T>(ack: AckResponse<T>): T {
  if (!ack.ok) throw new Error(`Expected success, got ${JSON.stringify(ack.error)}`);
  return ack.data;
}

function expectFailure(ack: unknown, code: string): Failure['error'] {
  expect(ack).toEqual({ ok: false, error: expect.objectContaining({ code, message: expect.any(String) }) });
  return (ack as Failure).error;
}

/** A time on the wire, checked to lie within [from, to] (epoch ms of the test's clock). */
function expectTimeWithin(iso: string | null, from: number, to: number): void {
  expect(iso).toMatch(ISO_TIMESTAMP);
  const at = Date.parse(iso!);
  expect(at).toBeGreaterThanOrEqual(from);
  expect(at).toBeLessThanOrEqual(to);
}

/** `lastSeenAt` of a user that is or was online: a time, or null while none was ever stored. */
function expectNullOrTime(iso: string | null): void {
  if (iso !== null) expect(iso).toMatch(ISO_TIMESTAMP);
}

/** What `viewer` is shown of a visible, online user: never `connections`, unless self or admin. */
function expectVisible(state: PresenceState | undefined, userId: string, status: PresenceStatus): void {
  expect(state).toMatchObject({ userId, status, online: true });
  expect(state).not.toHaveProperty('connections');
  expectNullOrTime(state!.lastSeenAt);
}

interface Received {
  event: ChangeEvent;
  envelope: Envelope<ChangeEvent, PresenceChange>;
  /** When the test received it (epoch ms). */
  at: number;
}

/** Every presence change a socket (on `/presence` or `/chat`) receives, in order of arrival. */
class PresenceInbox {
  readonly received: Received[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(socket: Socket) {
    socket.onAny((event: string, envelope: Envelope<ChangeEvent, PresenceChange>) => {
      if (!CHANGE_EVENTS.has(event)) return;
      this.received.push({ event: event as ChangeEvent, envelope, at: Date.now() });
      for (const waiter of [...this.waiters]) waiter();
    });
  }

  /** The position to look from for what comes next. */
  mark(): number {
    return this.received.length;
  }

  /** `event status` of each change about `userId` received from `from` on, e.g. `user:status away`. */
  about(userId: string, from = 0): string[] {
    return this.received
      .slice(from)
      .filter((entry) => entry.envelope.data.userId === userId)
      .map((entry) => `${entry.event} ${entry.envelope.data.status}`);
  }

  /** The first `event` about `userId` from `from` on (any change event when `event` is null). */
  waitFor(
    event: ChangeEvent | null,
    userId: string,
    from = 0,
    status?: PresenceStatus,
    timeoutMs = 5000,
  ): Promise<Received> {
    const matches = (entry: Received) =>
      (event === null || entry.event === event) &&
      entry.envelope.data.userId === userId &&
      (status === undefined || entry.envelope.data.status === status);
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.received.slice(from).find(matches);
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const seen = JSON.stringify(
          this.received.slice(from).map((entry) => ({ event: entry.event, ...entry.envelope.data })),
        );
        reject(
          new Error(
            `No ${event ?? 'change'} ${status ?? ''} about ${userId} within ${timeoutMs} ms: ${seen}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

interface Device<S extends Socket = Socket> {
  socket: S;
  inbox: PresenceInbox;
}

/** One running app with the helpers every test uses; its hooks are registered in the calling `describe`. */
function usePresenceApp(env: Record<string, string>) {
  let running: RunningApp;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    running = await startApp({ ...BASE_ENV, ...env });
  });
  afterEach(() => closeAll(sockets));
  afterAll(() => running.close());

  const http = () => request(running.app.getHttpServer());

  async function open<S extends Socket>(
    namespace: string,
    userId: string,
    roles: string[],
  ): Promise<Device<S>> {
    const socket = client(running.url, namespace, { auth: { token: signToken({ sub: userId, roles }) } });
    sockets.push(socket);
    const inbox = new PresenceInbox(socket);
    await connected(socket);
    return { socket: socket as S, inbox };
  }

  return {
    http,
    /** A `/presence` socket of `userId`, connected and authenticated. */
    presence: (userId: string, roles: string[] = []) => open<PresenceSocket>('/presence', userId, roles),
    /** A `/chat` socket of `userId`: a device on another namespace, and where co-members hear. */
    chat: (userId: string, roles: string[] = []) => open('/chat', userId, roles),

    async createChat(creator: string, others: string[]): Promise<Chat> {
      const response = await http().post('/api/chats').set(bearer(creator)).send({ participantIds: others });
      expect(response.status).toBe(201);
      return dataOf<Chat>(response);
    },

    async subscribe(socket: PresenceSocket, userIds: string[]): Promise<PresenceState[]> {
      return expectOk(await socket.emitWithAck(PresenceEvent.Subscribe, { userIds }));
    },

    async unsubscribe(socket: PresenceSocket, userIds: string[]): Promise<string[]> {
      return expectOk(await socket.emitWithAck(PresenceEvent.Unsubscribe, { userIds })).userIds;
    },

    async query(socket: PresenceSocket, userIds: string[]): Promise<PresenceState[]> {
      return expectOk(await socket.emitWithAck(PresenceEvent.Query, { userIds }));
    },

    async stateOf(socket: PresenceSocket, userId: string): Promise<PresenceState> {
      const [state] = expectOk(await socket.emitWithAck(PresenceEvent.Query, { userIds: [userId] }));
      return state!;
    },

    async set(socket: PresenceSocket, status: ChosenStatus): Promise<PresenceState> {
      return expectOk(await socket.emitWithAck(PresenceEvent.Set, { status }));
    },

    /** `GET /api/presence/:userId` as `viewer`, expecting 200. */
    async restState(viewer: string, userId: string, roles: string[] = []): Promise<PresenceState> {
      const response = await http()
        .get(`/api/presence/${encodeURIComponent(userId)}`)
        .set(bearer(viewer, roles));
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ message: 'Presence', data: expect.any(Object) });
      return dataOf<PresenceState>(response);
    },
  };
}

type PresenceApp = ReturnType<typeof usePresenceApp>;

/**
 * Closes `marker`'s only socket and waits until `inbox` hears that `markerId` went offline: proof
 * that a whole grace period passed since, and that whatever the server was going to send `inbox`
 * before it has arrived.
 */
async function graceMarker(marker: Device, markerId: string, inbox: PresenceInbox): Promise<void> {
  const from = inbox.mark();
  marker.socket.close();
  await inbox.waitFor(PresenceEvent.Offline, markerId, from);
}

describe('presence (e2e)', () => {
  const app: PresenceApp = usePresenceApp({
    PRESENCE_MAX_SUBSCRIPTIONS: String(MAX_SUBSCRIPTIONS),
    PRESENCE_CHAT_MAX_MEMBERS: String(CHAT_MAX_MEMBERS),
  });

  describe('online and offline', () => {
    it('stays online while any device is connected, and goes offline a grace period after the last one closes', async () => {
      const [user, observer, marker] = [newUser('user'), newUser('observer'), newUser('marker')];
      const watcher = await app.presence(observer);
      expect(await app.subscribe(watcher.socket, [user, marker])).toEqual([unseen(user), unseen(marker)]);

      const connectedAt = Date.now();
      const phone = await app.presence(user);
      const online = await watcher.inbox.waitFor(PresenceEvent.Online, user);
      expect(online.envelope).toEqual({
        type: PresenceEvent.Online,
        data: { userId: user, status: 'online', lastSeenAt: online.envelope.data.lastSeenAt },
        timestamp: expect.stringMatching(ISO_TIMESTAMP),
      });
      expectNullOrTime(online.envelope.data.lastSeenAt);
      // A second device, on another namespace: the user is online on any of them.
      const laptop = await app.chat(user);
      const markerDevice = await app.presence(marker);
      await watcher.inbox.waitFor(PresenceEvent.Online, marker);

      const from = watcher.inbox.mark();
      phone.socket.close();
      // A round trip, so that the phone's close has surely reached the server before the marker's.
      expectVisible(await app.stateOf(watcher.socket, user), user, 'online');
      await graceMarker(markerDevice, marker, watcher.inbox);
      expect(watcher.inbox.about(user, from)).toEqual([]);
      expectVisible(await app.stateOf(watcher.socket, user), user, 'online');

      const closedAt = Date.now();
      laptop.socket.close();
      const offline = await watcher.inbox.waitFor(PresenceEvent.Offline, user, from);
      expect(offline.at - closedAt).toBeGreaterThanOrEqual(GRACE_MS - TIMER_SLACK_MS);
      expect(offline.envelope.data).toEqual({
        userId: user,
        status: 'offline',
        lastSeenAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expectTimeWithin(offline.envelope.data.lastSeenAt, connectedAt, offline.at);
      expect(watcher.inbox.about(user, from)).toEqual(['user:offline offline']);
      expect(await app.stateOf(watcher.socket, user)).toEqual({
        userId: user,
        status: 'offline',
        online: false,
        lastSeenAt: offline.envelope.data.lastSeenAt,
      });
    });

    it('emits nothing for a reload within the grace period, and online again for a return after it', async () => {
      const [user, observer, marker] = [newUser('user'), newUser('observer'), newUser('marker')];
      const watcher = await app.presence(observer);
      await app.subscribe(watcher.socket, [user, marker]);
      const first = await app.presence(user);
      await watcher.inbox.waitFor(PresenceEvent.Online, user);
      const markerDevice = await app.presence(marker);
      await watcher.inbox.waitFor(PresenceEvent.Online, marker);

      const from = watcher.inbox.mark();
      first.socket.close();
      const reloaded = await app.presence(user);
      await graceMarker(markerDevice, marker, watcher.inbox);
      expect(watcher.inbox.about(user, from)).toEqual([]);
      expectVisible(await app.stateOf(watcher.socket, user), user, 'online');

      reloaded.socket.close();
      const offline = await watcher.inbox.waitFor(PresenceEvent.Offline, user, from);
      const back = await app.presence(user);
      const online = await watcher.inbox.waitFor(PresenceEvent.Online, user, from);
      expect(online.envelope.data.status).toBe('online');
      expect(watcher.inbox.about(user, from)).toEqual(['user:offline offline', 'user:online online']);
      expect(await app.stateOf(back.socket, user)).toMatchObject({
        userId: user,
        online: true,
        connections: 1,
      });
      // The stored last-seen time is the one of the offline transition, not of the return.
      const lastSeenAt = (await app.stateOf(watcher.socket, user)).lastSeenAt;
      expect([null, offline.envelope.data.lastSeenAt]).toContain(lastSeenAt);
    });
  });

  describe('statuses', () => {
    it('shows away and busy to everyone, invisible as offline to others and as invisible to the user', async () => {
      const [user, observer, marker] = [newUser('user'), newUser('observer'), newUser('marker')];
      const watcher = await app.presence(observer);
      await app.subscribe(watcher.socket, [user, marker]);
      const phone = await app.presence(user);
      const laptop = await app.presence(user);
      await watcher.inbox.waitFor(PresenceEvent.Online, user);

      for (const status of ['away', 'busy'] as const) {
        const from = watcher.inbox.mark();
        expect(await app.set(phone.socket, status)).toMatchObject({
          userId: user,
          status,
          online: true,
          connections: 2,
        });
        const change = await watcher.inbox.waitFor(PresenceEvent.Status, user, from);
        expect(change.envelope).toEqual({
          type: PresenceEvent.Status,
          data: { userId: user, status, lastSeenAt: change.envelope.data.lastSeenAt },
          timestamp: expect.stringMatching(ISO_TIMESTAMP),
        });
        expectVisible(await app.stateOf(watcher.socket, user), user, status);
        expectVisible(await app.restState(observer, user), user, status);
      }

      const from = watcher.inbox.mark();
      const before = Date.now();
      const own = await app.set(phone.socket, 'invisible');
      const after = Date.now();
      expect(own).toMatchObject({ userId: user, status: 'invisible', online: true, connections: 2 });
      const hidden = await watcher.inbox.waitFor(PresenceEvent.Offline, user, from);
      expect(hidden.envelope.data).toEqual({
        userId: user,
        status: 'offline',
        lastSeenAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      const lastSeenAt = hidden.envelope.data.lastSeenAt;
      expectTimeWithin(lastSeenAt, before, after);
      // Others: offline, last seen when the user went invisible. The user's own devices: invisible.
      const asOffline = { userId: user, status: 'offline', online: false, lastSeenAt };
      expect(await app.stateOf(watcher.socket, user)).toEqual(asOffline);
      expect(await app.restState(observer, user)).toEqual(asOffline);
      expect(await app.stateOf(laptop.socket, user)).toMatchObject({
        userId: user,
        status: 'invisible',
        online: true,
        connections: 2,
      });
      expect(await app.restState(user, user)).toMatchObject({ status: 'invisible', online: true });

      // No event betrays an invisible user: neither the last device closing nor a new connection.
      phone.socket.close();
      laptop.socket.close();
      const markerDevice = await app.presence(marker);
      await watcher.inbox.waitFor(PresenceEvent.Online, marker, from);
      await graceMarker(markerDevice, marker, watcher.inbox);
      const returned = await app.presence(user);
      const markerAgain = await app.presence(marker);
      await watcher.inbox.waitFor(PresenceEvent.Online, marker, watcher.inbox.mark());
      expect(watcher.inbox.about(user, from)).toEqual(['user:offline offline']);
      expect(await app.stateOf(watcher.socket, user)).toEqual(asOffline);

      // Still invisible at the next connect, until the user changes it.
      expect(await app.stateOf(returned.socket, user)).toMatchObject({ status: 'invisible', online: true });
      const visibleFrom = watcher.inbox.mark();
      expect(await app.set(returned.socket, 'online')).toMatchObject({ status: 'online', online: true });
      await watcher.inbox.waitFor(PresenceEvent.Online, user, visibleFrom);
      expect(watcher.inbox.about(user, visibleFrom)).toEqual(['user:online online']);
      expectVisible(await app.stateOf(watcher.socket, user), user, 'online');
      markerAgain.socket.close();
    });

    it('keeps a chosen status across a reload and across a return after the grace period', async () => {
      const [user, observer, marker] = [newUser('user'), newUser('observer'), newUser('marker')];
      const watcher = await app.presence(observer);
      await app.subscribe(watcher.socket, [user, marker]);
      const first = await app.presence(user);
      await watcher.inbox.waitFor(PresenceEvent.Online, user);
      await app.set(first.socket, 'busy');
      await watcher.inbox.waitFor(PresenceEvent.Status, user, 0, 'busy');
      const markerDevice = await app.presence(marker);
      await watcher.inbox.waitFor(PresenceEvent.Online, marker);

      const from = watcher.inbox.mark();
      first.socket.close();
      const reloaded = await app.presence(user);
      await graceMarker(markerDevice, marker, watcher.inbox);
      expect(watcher.inbox.about(user, from)).toEqual([]);
      expectVisible(await app.stateOf(watcher.socket, user), user, 'busy');
      expect(await app.stateOf(reloaded.socket, user)).toMatchObject({ status: 'busy', connections: 1 });

      reloaded.socket.close();
      await watcher.inbox.waitFor(PresenceEvent.Offline, user, from);
      expect(await app.stateOf(watcher.socket, user)).toMatchObject({ status: 'offline', online: false });
      const back = await app.presence(user);
      const online = await watcher.inbox.waitFor(PresenceEvent.Online, user, from);
      expect(online.envelope.data.status).toBe('busy');
      expect(watcher.inbox.about(user, from)).toEqual(['user:offline offline', 'user:online busy']);
      expect(await app.stateOf(back.socket, user)).toMatchObject({ status: 'busy', online: true });
    });

    it("shows a status set on one device on the user's other devices", async () => {
      const user = newUser('user');
      const phone = await app.presence(user);
      const laptop = await app.presence(user);

      const steps: [Device<PresenceSocket>, Device<PresenceSocket>, ChosenStatus][] = [
        [phone, laptop, 'away'],
        [laptop, phone, 'busy'],
        [phone, laptop, 'invisible'],
        [laptop, phone, 'online'],
      ];
      for (const [setter, other, status] of steps) {
        const from = other.inbox.mark();
        expect(await app.set(setter.socket, status)).toMatchObject({ userId: user, status, connections: 2 });
        const seen = await other.inbox.waitFor(null, user, from, status);
        expect(seen.envelope.data).toEqual({
          userId: user,
          status,
          lastSeenAt: seen.envelope.data.lastSeenAt,
        });
        expect(await app.stateOf(other.socket, user)).toMatchObject({ status, online: true, connections: 2 });
      }
    });

    it.each([
      ['offline, which is never chosen', { status: 'offline' }, 'status'],
      ['an unknown status', { status: 'sleeping' }, 'status'],
      ['an empty status', { status: '' }, 'status'],
      ['an upper-case status', { status: 'AWAY' }, 'status'],
      ['a numeric status', { status: 1 }, 'status'],
      ['no status', {}, 'status'],
      ['an unknown field', { status: 'away', userId: 'someone-else' }, 'userId'],
    ])('refuses %s with VALIDATION_FAILED and keeps the connection', async (_case, payload, field) => {
      const [user, observer] = [newUser('user'), newUser('observer')];
      const watcher = await app.presence(observer);
      await app.subscribe(watcher.socket, [user]);
      const device = await app.presence(user);
      await watcher.inbox.waitFor(PresenceEvent.Online, user);

      const error = expectFailure(
        await (device.socket as Socket).emitWithAck(PresenceEvent.Set, payload),
        'VALIDATION_FAILED',
      );

      expect(error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      expect(device.socket.connected).toBe(true);
      expect(await app.stateOf(device.socket, user)).toMatchObject({ status: 'online', online: true });
      // The next valid change is the first one the observer hears.
      await app.set(device.socket, 'away');
      await watcher.inbox.waitFor(PresenceEvent.Status, user);
      expect(watcher.inbox.about(user)).toEqual(['user:online online', 'user:status away']);
    });
  });

  describe('limits', () => {
    const ids = (count: number) => Array.from({ length: count }, (_, index) => `nobody-${index}`);

    it(`answers up to ${PresenceLimits.maxIdsPerCall} ids per call and refuses more, naming the limit`, async () => {
      const user = newUser('user');
      const device = await app.presence(user);
      const limit = PresenceLimits.maxIdsPerCall;

      const answered = await app.query(device.socket, ids(limit));
      expect(answered).toHaveLength(limit);
      expect(answered[limit - 1]).toEqual(unseen(`nobody-${limit - 1}`));
      for (const event of [PresenceEvent.Query, PresenceEvent.Subscribe, PresenceEvent.Unsubscribe]) {
        const error = expectFailure(
          await device.socket.emitWithAck(event, { userIds: ids(limit + 1) }),
          'VALIDATION_FAILED',
        );
        expect(error.message).toContain(`at most ${limit}`);
        expect(error.details).toEqual([
          { field: 'userIds', problems: [expect.stringContaining(String(limit))] },
        ]);
      }
      expect(device.socket.connected).toBe(true);

      const tooMany = await app
        .http()
        .post('/api/presence/query')
        .set(bearer(user))
        .send({ userIds: ids(limit + 1) });
      expect(tooMany.status).toBe(400);
      expect(tooMany.body).toMatchObject({
        code: 'VALIDATION_FAILED',
        message: expect.stringContaining(`at most ${limit}`),
      });
      const enough = await app
        .http()
        .post('/api/presence/query')
        .set(bearer(user))
        .send({ userIds: ids(limit) });
      expect(enough.status).toBe(200);
      expect(dataOf<PresenceState[]>(enough)).toHaveLength(limit);
    });

    it.each([
      ['a string', 'bob'],
      ['an empty id', ['']],
      ['a number among ids', ['bob', 7]],
      ['a too long id', ['u'.repeat(PresenceLimits.maxUserIdLength + 1)]],
    ])('refuses userIds as %s on every event, keeping the connection', async (_case, userIds) => {
      const device = await app.presence(newUser('user'));
      for (const event of [PresenceEvent.Query, PresenceEvent.Subscribe, PresenceEvent.Unsubscribe]) {
        const error = expectFailure(
          await (device.socket as Socket).emitWithAck(event, { userIds }),
          'VALIDATION_FAILED',
        );
        expect(error.details).toEqual(
          expect.arrayContaining([expect.objectContaining({ field: 'userIds' })]),
        );
      }
      expect(device.socket.connected).toBe(true);
    });

    it(`allows at most PRESENCE_MAX_SUBSCRIPTIONS (${MAX_SUBSCRIPTIONS}) subscriptions per connection`, async () => {
      const observer = newUser('observer');
      const [a, b, c, d, e, f] = ['a', 'b', 'c', 'd', 'e', 'f'].map(newUser) as [
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      const watcher = await app.presence(observer);

      expect(await app.subscribe(watcher.socket, [a, b, c])).toEqual([unseen(a), unseen(b), unseen(c)]);
      // 3 followed + d, e, f (c already is) = 6.
      const refused = expectFailure(
        await watcher.socket.emitWithAck(PresenceEvent.Subscribe, { userIds: [c, d, e, f] }),
        'VALIDATION_FAILED',
      );
      expect(refused.message).toContain(`at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`);
      expect(watcher.socket.connected).toBe(true);

      // Nothing of the refused call was taken: d is not followed, a still is.
      await app.presence(d);
      await app.presence(a);
      await watcher.inbox.waitFor(PresenceEvent.Online, a);
      expect(watcher.inbox.about(d)).toEqual([]);

      // Repeats count once, and ids already followed not at all: 3 + d + e = 5.
      expect((await app.subscribe(watcher.socket, [c, d, e, d])).map((state) => state.userId)).toEqual([
        c,
        d,
        e,
      ]);
      expectFailure(
        await watcher.socket.emitWithAck(PresenceEvent.Subscribe, { userIds: [f] }),
        'VALIDATION_FAILED',
      );
      expect(await app.unsubscribe(watcher.socket, [a, f, a])).toEqual([a]);
      expect(await app.subscribe(watcher.socket, [f])).toEqual([unseen(f)]);

      // An unsubscribed user is not heard any more; a followed one still is.
      const from = watcher.inbox.mark();
      const fDevice = await app.presence(f);
      await watcher.inbox.waitFor(PresenceEvent.Online, f, from);
      const aDevice = await app.presence(a);
      await app.set(aDevice.socket, 'away');
      await app.set(fDevice.socket, 'away');
      await watcher.inbox.waitFor(PresenceEvent.Status, f, from);
      expect(watcher.inbox.about(a, from)).toEqual([]);

      // The allowance is per connection: another connection of the same user has its own.
      const other = await app.presence(observer);
      expect(await app.subscribe(other.socket, [a, b, c, d, e])).toHaveLength(MAX_SUBSCRIPTIONS);
    });
  });

  describe('REST', () => {
    it('answers an unknown user as offline, never seen, with 200', async () => {
      const [viewer, unknown] = [newUser('viewer'), newUser('never-connected')];
      const response = await app.http().get(`/api/presence/${unknown}`).set(bearer(viewer));
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ message: 'Presence', data: unseen(unknown) });
    });

    it('answers a query in the order asked, repeats removed', async () => {
      const [viewer, user, unknown] = [newUser('viewer'), newUser('user'), newUser('unknown')];
      await app.presence(user);
      const response = await app
        .http()
        .post('/api/presence/query')
        .set(bearer(viewer))
        .send({ userIds: [unknown, user, unknown] });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ message: 'Presence', data: [unseen(unknown), expect.any(Object)] });
      expectVisible(dataOf<PresenceState[]>(response)[1], user, 'online');
    });

    it('answers 401 without a token', async () => {
      const get = await app.http().get('/api/presence/someone');
      const post = await app
        .http()
        .post('/api/presence/query')
        .send({ userIds: ['someone'] });
      for (const response of [get, post]) {
        expect(response.status).toBe(401);
        expect(response.body).toEqual(unauthorizedBody('AUTH_MISSING'));
      }
    });
  });

  describe('connections', () => {
    it('are shown to the user and to admins, to nobody else', async () => {
      const [user, other, admin] = [newUser('user'), newUser('other'), newUser('admin')];
      const phone = await app.presence(user);
      await app.chat(user);
      const stranger = await app.presence(other);
      const moderator = await app.presence(admin, ['admin']);

      const withConnections = { userId: user, status: 'online', online: true, connections: 2 };
      expect(await app.stateOf(phone.socket, user)).toMatchObject(withConnections);
      expect(await app.stateOf(moderator.socket, user)).toMatchObject(withConnections);
      expect(await app.restState(user, user)).toMatchObject(withConnections);
      expect(await app.restState(admin, user, ['admin'])).toMatchObject(withConnections);
      expectVisible(await app.stateOf(stranger.socket, user), user, 'online');
      expectVisible(await app.restState(other, user), user, 'online');
      expectVisible(itemOf(await app.subscribe(stranger.socket, [user])), user, 'online');
      expect(await app.subscribe(moderator.socket, [user])).toEqual([
        expect.objectContaining(withConnections),
      ]);
    });
  });

  describe('who hears', () => {
    it('tells strangers nothing, on either namespace', async () => {
      const [user, stranger, marker] = [newUser('user'), newUser('stranger'), newUser('marker')];
      // The stranger shares a chat with the marker only, and follows only the marker.
      await app.createChat(stranger, [marker]);
      const markerDevice = await app.presence(marker);
      const strangerPresence = await app.presence(stranger);
      const strangerChat = await app.chat(stranger);
      await app.subscribe(strangerPresence.socket, [marker]);

      const device = await app.presence(user);
      for (const status of ['away', 'invisible', 'online'] as const) await app.set(device.socket, status);
      device.socket.close();
      markerDevice.socket.close();

      await strangerPresence.inbox.waitFor(PresenceEvent.Offline, marker);
      await strangerChat.inbox.waitFor(PresenceEvent.Offline, marker);
      for (const inbox of [strangerPresence.inbox, strangerChat.inbox]) {
        expect(inbox.about(user)).toEqual([]);
        // The marker's own arrival may be told too (announcements leave in batches); nothing else.
        expect([...new Set(inbox.received.map((entry) => entry.envelope.data.userId))]).toEqual([marker]);
      }
    });

    it('tells chat co-members on /chat and on /presence, once per socket, subscribed or not', async () => {
      const [user, member, follower] = [newUser('user'), newUser('member'), newUser('follower')];
      // CHAT_MAX_MEMBERS members: not above the limit, so they are told.
      await app.createChat(user, [member, follower]);
      const memberChat = await app.chat(member);
      const memberPresence = await app.presence(member);
      const followerPresence = await app.presence(follower);
      await app.subscribe(followerPresence.socket, [user]);
      const inboxes = [memberChat.inbox, memberPresence.inbox, followerPresence.inbox];

      const device = await app.presence(user);
      for (const inbox of inboxes) await inbox.waitFor(PresenceEvent.Online, user);
      await app.set(device.socket, 'busy');
      for (const inbox of inboxes) await inbox.waitFor(PresenceEvent.Status, user, 0, 'busy');
      device.socket.close();
      for (const inbox of inboxes) {
        const offline = await inbox.waitFor(PresenceEvent.Offline, user);
        expect(offline.envelope).toEqual({
          type: PresenceEvent.Offline,
          data: { userId: user, status: 'offline', lastSeenAt: expect.stringMatching(ISO_TIMESTAMP) },
          timestamp: expect.stringMatching(ISO_TIMESTAMP),
        });
      }

      // The offline came last, a grace period after the close: anything sent twice has arrived.
      for (const inbox of inboxes) {
        expect(inbox.about(user)).toEqual(['user:online online', 'user:status busy', 'user:offline offline']);
      }
    });

    it('tells a burst of arrivals to those online before each, batched or not, and nobody of the changes before they came', async () => {
      const [first, second, third] = [newUser('first'), newUser('second'), newUser('third')];
      await app.createChat(first, [second, third]);
      // Within PRESENCE_BATCH_MS of each other or not, the result is the same.
      const firstChat = await app.chat(first);
      const secondChat = await app.chat(second);
      const thirdChat = await app.chat(third);
      await firstChat.inbox.waitFor(PresenceEvent.Online, third);
      await secondChat.inbox.waitFor(PresenceEvent.Online, third);
      const firstPresence = await app.presence(first);
      await app.set(firstPresence.socket, 'busy');
      for (const { inbox } of [secondChat, thirdChat])
        await inbox.waitFor(PresenceEvent.Status, first, 0, 'busy');

      expect([first, second, third].map((userId) => firstChat.inbox.about(userId))).toEqual([
        [],
        ['user:online online'],
        ['user:online online'],
      ]);
      expect([first, second, third].map((userId) => secondChat.inbox.about(userId))).toEqual([
        ['user:status busy'],
        [],
        ['user:online online'],
      ]);
      expect([first, second, third].map((userId) => thirdChat.inbox.about(userId))).toEqual([
        ['user:status busy'],
        [],
        [],
      ]);
    });

    it(`does not tell co-members of chats above PRESENCE_CHAT_MAX_MEMBERS (${CHAT_MAX_MEMBERS}), who may subscribe`, async () => {
      const [user, member, marker] = [newUser('user'), newUser('member'), newUser('marker')];
      await app.createChat(user, [member, newUser('second'), newUser('third')]);
      // The marker shares a small chat with the member: its changes reach the member.
      await app.createChat(marker, [member]);
      const memberChat = await app.chat(member);
      const memberPresence = await app.presence(member);
      const markerDevice = await app.presence(marker);
      await memberChat.inbox.waitFor(PresenceEvent.Online, marker);

      const device = await app.presence(user);
      await app.set(device.socket, 'busy');
      let from = memberChat.inbox.mark();
      await app.set(markerDevice.socket, 'away');
      await memberChat.inbox.waitFor(PresenceEvent.Status, marker, from, 'away');
      await memberPresence.inbox.waitFor(PresenceEvent.Status, marker, 0, 'away');
      expect(memberChat.inbox.about(user)).toEqual([]);
      expect(memberPresence.inbox.about(user)).toEqual([]);

      // Subscribing explicitly works as for anyone.
      expectVisible(itemOf(await app.subscribe(memberPresence.socket, [user])), user, 'busy');
      await app.set(device.socket, 'away');
      await memberPresence.inbox.waitFor(PresenceEvent.Status, user, 0, 'away');
      from = memberChat.inbox.mark();
      await app.set(markerDevice.socket, 'busy');
      await memberChat.inbox.waitFor(PresenceEvent.Status, marker, from, 'busy');
      expect(memberChat.inbox.about(user)).toEqual([]);
      expect(memberPresence.inbox.about(user)).toEqual(['user:status away']);
    });
  });
});

describe('presence with PRESENCE_VISIBILITY=shared-chats (e2e)', () => {
  const app: PresenceApp = usePresenceApp({ PRESENCE_VISIBILITY: 'shared-chats' });

  it('lets only co-members follow or query a user; others see a stranger, and hear nothing', async () => {
    const [user, member, outsider, marker] = [
      newUser('user'),
      newUser('member'),
      newUser('outsider'),
      newUser('marker'),
    ];
    await app.createChat(user, [member]);
    await app.createChat(outsider, [marker]);
    const unknown = newUser('never-connected');
    const device = await app.presence(user);
    await app.set(device.socket, 'busy');
    const markerDevice = await app.presence(marker);
    const memberPresence = await app.presence(member);
    const outsiderPresence = await app.presence(outsider);

    expectVisible(itemOf(await app.subscribe(memberPresence.socket, [user])), user, 'busy');
    const answered = await app.subscribe(outsiderPresence.socket, [user, unknown, marker, outsider]);
    expect(answered.slice(0, 2)).toEqual([unseen(user), unseen(unknown)]);
    expectVisible(answered[2], marker, 'online');
    // The viewer themself is always followable.
    expect(answered[3]).toMatchObject({ userId: outsider, status: 'online', online: true, connections: 1 });
    expect(await app.query(outsiderPresence.socket, [user])).toEqual([unseen(user)]);
    expect(await app.restState(outsider, user)).toEqual(unseen(user));
    const queried = await app
      .http()
      .post('/api/presence/query')
      .set(bearer(outsider))
      .send({ userIds: [user] });
    expect(dataOf(queried)).toEqual([unseen(user)]);
    // Unsubscribing a user one could not follow answers like any other: nothing tells them apart.
    expect(await app.unsubscribe(outsiderPresence.socket, [user, unknown])).toEqual([user, unknown]);
    await app.subscribe(outsiderPresence.socket, [user]);

    const memberFrom = memberPresence.inbox.mark();
    await app.set(device.socket, 'away');
    // A status chosen within PRESENCE_BATCH_MS of the arrival is told with it, as user:online.
    await memberPresence.inbox.waitFor(null, user, memberFrom, 'away');
    device.socket.close();
    const offline = await memberPresence.inbox.waitFor(PresenceEvent.Offline, user, memberFrom);
    expectTimeWithin(offline.envelope.data.lastSeenAt, 0, offline.at);
    await graceMarker(markerDevice, marker, outsiderPresence.inbox);

    expect(outsiderPresence.inbox.about(user)).toEqual([]);
    expect(await app.query(outsiderPresence.socket, [user])).toEqual([unseen(user)]);
    expect(await app.restState(outsider, user)).toEqual(unseen(user));
    expect(await app.stateOf(memberPresence.socket, user)).toEqual({
      userId: user,
      status: 'offline',
      online: false,
      lastSeenAt: offline.envelope.data.lastSeenAt,
    });
  });

  it('tells co-members without a subscription, on /chat', async () => {
    const [user, member] = [newUser('user'), newUser('member')];
    await app.createChat(user, [member]);
    const memberChat = await app.chat(member);
    await app.presence(user);
    await memberChat.inbox.waitFor(PresenceEvent.Online, user);
  });
});

function itemOf<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  return items[0]!;
}
