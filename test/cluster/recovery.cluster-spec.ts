import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import {
  ChatEvent,
  type ChatClientToServerEvents,
  type ChatServerToClientEvents,
} from '../../src/chat/chat.events.js';
import type { Chat, ChatMessage, MessagePage } from '../../src/chat/chat.types.js';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { ChatInbox } from '../support/chat-inbox.js';
import { ackData, stopStarted } from '../support/cluster.js';
import { client, closeAll, connected } from '../support/clients.js';
import { describeWithPostgres, startPostgres } from '../support/postgres.js';
import { RecoveringChatClient } from '../support/recovering-client.js';
import { describeWithRedis, startRedis } from '../support/redis-server.js';
import { signToken } from '../support/tokens.js';

type ChatSocket = Socket<ChatServerToClientEvents, ChatClientToServerEvents>;
type RunningRedis = Awaited<ReturnType<typeof startRedis>>;
type RunningPostgres = Awaited<ReturnType<typeof startPostgres>>;

const ENV = {
  REDIS_KEY_PREFIX: 'recovery-test:',
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_EVENTS_PER_S: '0',
  RESYNC_SPREAD_MS: '300',
};
const START_TIMEOUT_MS = 120_000;
const OUTAGE_TEST_TIMEOUT_MS = 60_000;
const REDIS_NOTICE_LIMIT_MS = 15_000;
const BEFORE = 2;
const DURING = 6;
const RIGHT_AFTER = 4;

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const bearer = (userId: string) => ({ Authorization: `Bearer ${signToken({ sub: userId })}` });
const dataOf = <T>(response: { body: unknown }): T => (response.body as { data: T }).data;
const seqs = (messages: ChatMessage[]): number[] => messages.map((message) => message.seq);

describeWithPostgres('recovery after a Redis outage (docs/protocol.md, Recovery)', () => {
  describeWithRedis('two instances, one Redis killed and restarted', () => {
    let redis: RunningRedis | undefined;
    let postgres: RunningPostgres | undefined;
    let a: AppProcess;
    let b: AppProcess;
    const starting: Promise<AppProcess>[] = [];
    const sockets: ChatSocket[] = [];
    const report: string[] = [];

    async function open(instance: AppProcess, userId: string): Promise<ChatSocket> {
      const socket = client(instance.url, '/chat', {
        auth: { token: signToken({ sub: userId }) },
      }) as ChatSocket;
      sockets.push(socket);
      await connected(socket);
      return socket;
    }

    async function createChat(creator: string, others: string[]): Promise<Chat> {
      const response = await request(a.url)
        .post('/api/chats')
        .set(bearer(creator))
        .send({ participantIds: others });
      expect(response.status).toBe(201);
      return dataOf<Chat>(response);
    }

    async function send(socket: ChatSocket, chatId: string, content: string): Promise<ChatMessage> {
      return ackData(
        await socket.emitWithAck(ChatEvent.SendMessage, { chatId, content, clientId: randomUUID() }),
      );
    }

    async function stored(userId: string, chatId: string): Promise<ChatMessage[]> {
      const response = await request(a.url)
        .get(`/api/chats/${chatId}/messages?afterSeq=0&limit=200`)
        .set(bearer(userId));
      expect(response.status).toBe(200);
      const page = dataOf<MessagePage>(response);
      expect(page.hasMore).toBe(false);
      return page.messages;
    }

    /** Kills Redis, runs `duringOutage`, restarts Redis; resolves once every connection is back. */
    async function outage(duringOutage: () => Promise<void>, rightAfter: () => Promise<void>): Promise<void> {
      const server = redis!;
      const lost = [a, b].map((instance) =>
        instance.waitForLine(/Redis connection "adapter-sub" lost/, REDIS_NOTICE_LIMIT_MS),
      );
      await server.kill();
      await Promise.all(lost);
      await duringOutage();
      const back = [a, b].map((instance) =>
        instance.waitForLine(/Redis connection "adapter-pub" is back/, REDIS_NOTICE_LIMIT_MS),
      );
      await server.restart();
      await rightAfter();
      await Promise.all(back);
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
      [a, b] = await Promise.all([start('recovery-a'), start('recovery-b')]);
    }, START_TIMEOUT_MS);

    afterEach(async () => {
      await closeAll(sockets);
    });

    afterAll(async () => {
      await closeAll(sockets);
      await stopStarted(starting);
      await Promise.allSettled([redis?.stop(), postgres?.stop()]);
      if (report.length > 0) console.info(`Recovery after a Redis outage:\n  ${report.join('\n  ')}`);
    }, START_TIMEOUT_MS);

    it(
      'ends every client that follows sync:required and seq gaps with exactly the stored messages, once each, in seq order',
      async () => {
        const [alice, bob, carol] = [newUser('alice'), newUser('bob'), newUser('carol')];
        const aliceSocket = await open(a, alice);
        const bobSocket = await open(b, bob);
        const carolSocket = await open(b, carol);
        const bobInbox = new ChatInbox(bobSocket);
        const follower = new RecoveringChatClient(bobSocket, true);
        const ignorer = new RecoveringChatClient(carolSocket, false);

        // `busy` goes on after the outage; `quiet` gets messages only while Redis is down, so no
        // later message can reveal the gap by its seq.
        const busy = await createChat(alice, [bob, carol]);
        const quiet = await createChat(alice, [bob, carol]);
        for (const chat of [busy, quiet]) {
          await bobInbox.waitFor(ChatEvent.ChatCreated, (created) => created.id === chat.id);
          for (const recovering of [follower, ignorer]) recovering.follow(chat.id);
          for (let index = 1; index <= BEFORE; index++) await send(aliceSocket, chat.id, `before ${index}`);
        }
        for (const recovering of [follower, ignorer]) {
          await recovering.until(
            () => [busy, quiet].every((chat) => recovering.messagesOf(chat.id).length === BEFORE),
            'live delivery before the outage',
          );
        }

        await outage(
          async () => {
            for (let index = 1; index <= DURING; index++) {
              await send(aliceSocket, busy.id, `during ${index}`);
              await send(aliceSocket, quiet.id, `during ${index}`);
            }
          },
          async () => {
            for (let index = 1; index <= RIGHT_AFTER; index++)
              await send(aliceSocket, busy.id, `right after ${index}`);
          },
        );
        await follower.until(() => follower.signals.length > 0, 'sync:required');
        const final = await send(aliceSocket, busy.id, 'after the recovery');

        const expected = { busy: await stored(alice, busy.id), quiet: await stored(alice, quiet.id) };
        expect(seqs(expected.busy)).toEqual(
          Array.from({ length: BEFORE + DURING + RIGHT_AFTER + 1 }, (_, i) => i + 1),
        );
        expect(seqs(expected.quiet)).toEqual(Array.from({ length: BEFORE + DURING }, (_, i) => i + 1));

        await follower.until(
          () =>
            follower.messagesOf(busy.id).length === expected.busy.length &&
            follower.messagesOf(quiet.id).length === expected.quiet.length,
          'the follower holding everything stored',
        );
        expect(follower.messagesOf(busy.id)).toEqual(expected.busy);
        expect(follower.messagesOf(quiet.id)).toEqual(expected.quiet);
        expect(follower.signals[0]).toEqual({
          reason: expect.stringMatching(/^(subscription_interrupted|broadcasts_dropped)$/),
          since: expect.any(String),
          syncAfterMs: expect.any(Number),
        });
        expect(follower.signals[0]!.syncAfterMs).toBeLessThan(Number(ENV.RESYNC_SPREAD_MS));

        // The client that ignores the signal recovers the busy chat from the jump in seq, and
        // never learns what the quiet chat lost.
        await ignorer.until(
          () => ignorer.messagesOf(busy.id).at(-1)?.id === final.id,
          'the ignorer catching up on busy',
        );
        expect(ignorer.messagesOf(busy.id)).toEqual(expected.busy);
        expect([follower.failures, ignorer.failures]).toEqual([[], []]);
        expect(ignorer.signals.length).toBeGreaterThan(0);
        expect(seqs(ignorer.messagesOf(quiet.id))).toEqual([1, 2]);

        const live = bobInbox.of(ChatEvent.NewMessage).length;
        const total = expected.busy.length + expected.quiet.length;
        report.push(
          `${total} messages stored; the follower received ${live} live and recovered ${total - live} by sync ` +
            `(${follower.syncCalls} chat:sync calls); signals: ${follower.signals.map((signal) => signal.reason).join(', ')}; ` +
            `the ignorer holds ${ignorer.messagesOf(quiet.id).length} of ${expected.quiet.length} in the quiet chat`,
        );
      },
      OUTAGE_TEST_TIMEOUT_MS,
    );

    it(
      'repairs chat rooms after the outage: a member removed meanwhile stops receiving, one added starts',
      async () => {
        const [alice, frank, grace] = [newUser('alice'), newUser('frank'), newUser('grace')];
        const aliceSocket = await open(a, alice);
        const frankSocket = await open(b, frank);
        const graceSocket = await open(b, grace);
        const frankInbox = new ChatInbox(frankSocket);
        const graceInbox = new ChatInbox(graceSocket);
        const graceSignalled = new Promise((resolve) => graceSocket.once('sync:required' as never, resolve));
        const chat = await createChat(alice, [frank]);
        const frankOnly = await createChat(alice, [frank]);
        for (const created of [chat, frankOnly]) {
          await frankInbox.waitFor(ChatEvent.ChatCreated, (payload) => payload.id === created.id);
        }
        const before = await send(aliceSocket, chat.id, 'before');
        await frankInbox.waitFor(ChatEvent.NewMessage, (message) => message.id === before.id);

        await outage(
          async () => {
            const removed = await request(a.url)
              .delete(`/api/chats/${chat.id}/members/${frank}`)
              .set(bearer(alice));
            expect(removed.status).toBe(200);
            const added = await request(a.url)
              .post(`/api/chats/${chat.id}/members`)
              .set(bearer(alice))
              .send({ userId: grace });
            expect(added.status).toBe(200);
          },
          () => Promise.resolve(),
        );
        await graceSignalled;

        // The repair runs on its own after the gap; until it has, grace is not in the room.
        let probe: ChatMessage | undefined;
        for (let attempt = 1; attempt <= 50 && !graceInbox.of(ChatEvent.NewMessage).length; attempt++) {
          probe = await send(aliceSocket, chat.id, `probe ${attempt}`);
          await graceInbox
            .waitFor(ChatEvent.NewMessage, (message) => message.id === probe!.id, 500)
            .catch(() => undefined);
        }
        expect(graceInbox.of(ChatEvent.NewMessage).length).toBeGreaterThan(0);

        const after = await send(aliceSocket, chat.id, 'after the repair');
        await graceInbox.waitFor(ChatEvent.NewMessage, (message) => message.id === after.id);
        // Broadcasts from A reach B in the order A sent them: once frank has the next one, he
        // would have had `after` before it.
        const marker = await send(aliceSocket, frankOnly.id, 'marker');
        await frankInbox.waitFor(ChatEvent.NewMessage, (message) => message.id === marker.id);
        expect(frankInbox.newMessageIds()).not.toContain(after.id);
        expect(frankInbox.newMessageIds()).toContain(before.id);
      },
      OUTAGE_TEST_TIMEOUT_MS,
    );
  });
});
