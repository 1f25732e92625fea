import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { ChatEvent, type SendMessageRequest } from '../../src/chat/chat.events.js';
import type { Chat, ChatMessage, MessagePage } from '../../src/chat/chat.types.js';
import type { AckResponse } from '../../src/common/envelope.js';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { ackData, type ChatMember, type ChatSocket, joinChat, stopStarted } from '../support/cluster.js';
import type { ChatInbox } from '../support/chat-inbox.js';
import { closeAll } from '../support/clients.js';
import { ms, pollUntil } from '../support/polling.js';
import { describeWithPostgres, startPostgres } from '../support/postgres.js';
import { describeWithRedis, startRedis } from '../support/redis-server.js';
import { signToken } from '../support/tokens.js';

type RunningRedis = Awaited<ReturnType<typeof startRedis>>;
type RunningPostgres = Awaited<ReturnType<typeof startPostgres>>;

/** A send the server acknowledged; over REST, 201 stored it and 200 found it stored under its `clientId`. */
interface AckedAttempt {
  acked: true;
  message: ChatMessage;
  httpStatus?: number;
  latencyMs: number;
}

/** A send given up on: refused, or not acknowledged within `ACK_PATIENCE_MS`. */
interface FailedAttempt {
  acked: false;
  failure: string;
  latencyMs: number;
}

type SendAttempt = AckedAttempt | FailedAttempt;

/** The `index`th send of the outage and how its first attempt went. */
interface OutageSend {
  index: number;
  payload: SendMessageRequest;
  overRest: boolean;
  attempt: SendAttempt;
}

/** The sub and psub counts of one Redis connection, as `CLIENT LIST` reports them. */
interface Subscriptions {
  channels: number;
  patterns: number;
}

const CLUSTER_ENV = {
  REDIS_KEY_PREFIX: 'chat-cluster-test:',
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_EVENTS_PER_S: '0',
};
/** The connection each instance's Socket.IO adapter receives other instances' broadcasts on. */
const ADAPTER_SUBSCRIBER_NAME = 'switchboard:adapter-sub';
/** Every Redis connection of an instance, as its log names them; each must be back after an outage. */
const REDIS_CONNECTIONS = ['commands', 'adapter-pub', 'adapter-sub'];

const START_TIMEOUT_MS = 120_000;
const OUTAGE_TEST_TIMEOUT_MS = 60_000;
const DELIVERY_LIMIT_MS = 5000;
/**
 * How long a client waits for an acknowledgement before it gives up and resends later with the
 * same `clientId`. Storing a message needs the database only, so a Redis outage must not
 * stretch it: an instance that keeps clients waiting longer is not serving them.
 */
const ACK_PATIENCE_MS = 2000;
const REDIS_NOTICE_LIMIT_MS = 15_000;
const OUTAGE_MESSAGES = 30;
/** Every third send of the outage goes over REST, the others over the socket. */
const REST_EVERY = 3;
const SYNC_PAGE_SIZE = 7;
const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const bearer = (userId: string) => ({ Authorization: `Bearer ${signToken({ sub: userId })}` });
const dataOf = <T>(response: { body: unknown }): T => (response.body as { data: T }).data;

describeWithPostgres('chat across a cluster of instances', () => {
  describeWithRedis('sharing one Redis and one PostgreSQL', () => {
    let redis: RunningRedis | undefined;
    let postgres: RunningPostgres | undefined;
    let a: AppProcess;
    let b: AppProcess;
    const starting: Promise<AppProcess>[] = [];
    const sockets: ChatSocket[] = [];
    const timings: string[] = [];

    function startInstance(serverId: string, redisUrl: string, databaseUrl: string): Promise<AppProcess> {
      const instance = startAppProcess({
        serverId,
        redisUrl,
        env: { ...CLUSTER_ENV, DATABASE_URL: databaseUrl },
      });
      starting.push(instance);
      return instance;
    }

    const join = (instance: AppProcess, userId: string): Promise<ChatMember> =>
      joinChat(instance, userId, sockets);

    async function createChat(instance: AppProcess, creator: string, others: string[]): Promise<Chat> {
      const response = await request(instance.url)
        .post('/api/chats')
        .set(bearer(creator))
        .send({ participantIds: others });
      expect(response.status).toBe(201);
      return dataOf<Chat>(response);
    }

    async function send(member: ChatMember, chatId: string, content: string): Promise<ChatMessage> {
      return ackData(
        await member.socket.emitWithAck(ChatEvent.SendMessage, { chatId, content, clientId: randomUUID() }),
      );
    }

    async function listMessages(
      instance: AppProcess,
      userId: string,
      chatId: string,
      query = '',
    ): Promise<MessagePage> {
      const response = await request(instance.url)
        .get(`/api/chats/${chatId}/messages${query}`)
        .set(bearer(userId));
      expect(response.status).toBe(200);
      return dataOf<MessagePage>(response);
    }

    function requireRedis(): RunningRedis {
      if (!redis) throw new Error('Redis is not started');
      return redis;
    }

    beforeAll(async () => {
      [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
      [a, b] = await Promise.all([
        startInstance('chat-a', redis.url, postgres.connectionString),
        startInstance('chat-b', redis.url, postgres.connectionString),
      ]);
    }, START_TIMEOUT_MS);

    afterEach(async () => {
      await closeAll(sockets);
    });

    afterAll(async () => {
      await closeAll(sockets);
      await stopStarted(starting);
      await Promise.allSettled([redis?.stop(), postgres?.stop()]);
      if (timings.length > 0) console.info(`Chat cluster timings and counts:\n  ${timings.join('\n  ')}`);
    }, START_TIMEOUT_MS);

    it('lets members on two instances chat: messages, typing and read receipts cross between them', async () => {
      const alice = await join(a, newUser('alice'));
      const bob = await join(b, newUser('bob'));

      const chat = await createChat(a, alice.userId, [bob.userId]);
      for (const member of [alice, bob]) {
        expect((await member.inbox.waitFor(ChatEvent.ChatCreated)).data).toEqual(chat);
      }

      const greeting = await send(alice, chat.id, 'hello from A');
      await expectDelivery(bob.inbox, greeting);
      const reply = await send(bob, chat.id, 'hello from B');
      await expectDelivery(alice.inbox, reply);
      expect(alice.inbox.newMessageIds()).toEqual([greeting.id, reply.id]);
      expect(bob.inbox.newMessageIds()).toEqual([greeting.id, reply.id]);

      const typing = { chatId: chat.id, userId: bob.userId };
      expect(ackData(await bob.socket.emitWithAck(ChatEvent.Typing, { chatId: chat.id }))).toEqual({
        ...typing,
        isTyping: true,
      });
      expect((await alice.inbox.waitFor(ChatEvent.Typing)).data).toEqual({ ...typing, isTyping: true });
      expect(ackData(await bob.socket.emitWithAck(ChatEvent.StopTyping, { chatId: chat.id }))).toEqual({
        ...typing,
        isTyping: false,
      });
      expect((await alice.inbox.waitFor(ChatEvent.StopTyping)).data).toEqual({ ...typing, isTyping: false });

      const receipt = { chatId: chat.id, userId: bob.userId, messageId: reply.id };
      expect(
        ackData(await bob.socket.emitWithAck(ChatEvent.Read, { chatId: chat.id, messageId: reply.id })),
      ).toEqual(receipt);
      expect((await alice.inbox.waitFor(ChatEvent.Read)).data).toEqual(receipt);
      // B emits to bob's own sockets before the receipt, so an echo of his typing would be here by now.
      expect((await bob.inbox.waitFor(ChatEvent.Read)).data).toEqual(receipt);
      expect(bob.inbox.of(ChatEvent.Typing)).toEqual([]);
      expect(bob.inbox.of(ChatEvent.StopTyping)).toEqual([]);
    });

    it('joins a member added on A on her socket on B, and takes her out again when removed on A', async () => {
      const alice = await join(a, newUser('alice'));
      const bob = await join(b, newUser('bob'));
      const carol = await join(b, newUser('carol'));
      const chat = await createChat(a, alice.userId, [bob.userId]);
      const side = await createChat(a, alice.userId, [carol.userId]);
      await carol.inbox.waitFor(ChatEvent.ChatCreated, (created) => created.id === side.id);
      const carolSocketId = carol.socket.id;

      const added = await request(a.url)
        .post(`/api/chats/${chat.id}/members`)
        .set(bearer(alice.userId))
        .send({ userId: carol.userId });

      expect(added.status).toBe(200);
      expect((added.body as { message: string }).message).toBe('Member added');
      const withCarol = dataOf<Chat>(added);
      expect(withCarol.participantIds).toEqual(
        expect.arrayContaining([alice.userId, bob.userId, carol.userId]),
      );
      expect((await carol.inbox.waitFor(ChatEvent.MemberAdded)).data).toEqual({
        chatId: chat.id,
        userId: carol.userId,
        addedBy: alice.userId,
        chat: withCarol,
      });
      const welcome = await send(alice, chat.id, 'welcome, carol');
      await expectDelivery(carol.inbox, welcome);
      await expectDelivery(bob.inbox, welcome);
      expect([carol.socket.connected, carol.socket.id]).toEqual([true, carolSocketId]);

      const removed = await request(a.url)
        .delete(`/api/chats/${chat.id}/members/${carol.userId}`)
        .set(bearer(alice.userId));
      expect(removed.status).toBe(200);
      const removal = { chatId: chat.id, userId: carol.userId, removedBy: alice.userId };
      expect((await carol.inbox.waitFor(ChatEvent.MemberRemoved)).data).toEqual(removal);

      const unseen = await send(alice, chat.id, 'carol has left');
      await expectDelivery(bob.inbox, unseen);
      const marker = await send(alice, side.id, 'still here, carol?');
      // A publishes `unseen` before `marker` and B delivers them in that order.
      await expectDelivery(carol.inbox, marker);
      expect(carol.inbox.newMessageIds()).toEqual([welcome.id, marker.id]);
      expect([carol.socket.connected, carol.socket.id]).toEqual([true, carolSocketId]);
    });

    it('stores a message sent on B once and shows it over REST on A at once', async () => {
      const alice = await join(a, newUser('alice'));
      const bob = await join(b, newUser('bob'));
      const chat = await createChat(a, alice.userId, [bob.userId]);
      await bob.inbox.waitFor(ChatEvent.ChatCreated);
      const sent = { chatId: chat.id, content: 'stored by B', clientId: randomUUID() };

      const stored = ackData(await bob.socket.emitWithAck(ChatEvent.SendMessage, sent));

      expect(stored).toEqual({
        id: expect.any(Number),
        chatId: chat.id,
        seq: 1,
        senderId: bob.userId,
        content: sent.content,
        clientId: sent.clientId,
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(await listMessages(a, alice.userId, chat.id)).toEqual({ messages: [stored], hasMore: false });

      const retriedOnA = await request(a.url)
        .post(`/api/chats/${chat.id}/messages`)
        .set(bearer(bob.userId))
        .send({ content: sent.content, clientId: sent.clientId });
      expect(retriedOnA.status).toBe(200);
      expect(retriedOnA.body).toEqual({ message: 'Message already stored', data: stored });
      expect(await listMessages(a, alice.userId, chat.id)).toEqual({ messages: [stored], hasMore: false });

      const marker = await send(bob, chat.id, 'after the retry');
      await expectDelivery(alice.inbox, marker);
      expect(alice.inbox.newMessageIds()).toEqual([stored.id, marker.id]);
    });

    it(
      'keeps acknowledging sends while Redis is down, and returns every acknowledged message through chat:sync, once each, in id order',
      async () => {
        const server = requireRedis();
        const alice = await join(a, newUser('alice'));
        const bob = await join(b, newUser('bob'));
        const chat = await createChat(a, alice.userId, [bob.userId]);
        await bob.inbox.waitFor(ChatEvent.ChatCreated);
        const beforeOutage = await send(alice, chat.id, 'before the outage');
        await expectDelivery(bob.inbox, beforeOutage);
        const lastReceivedId = beforeOutage.id;
        const subscriptionsBefore = await adapterSubscriptions(server);
        expect(subscriptionsBefore).toHaveLength(2);

        const noticed = [a, b].map((instance) =>
          instance.waitForLine(/Redis connection "adapter-sub" lost/, REDIS_NOTICE_LIMIT_MS),
        );
        await server.kill();
        await Promise.all(noticed);
        const outageStartedAt = performance.now();
        const sends: OutageSend[] = [];
        for (let index = 1; index <= OUTAGE_MESSAGES; index++) {
          const payload = {
            chatId: chat.id,
            content: `sent during the outage #${index}`,
            clientId: randomUUID(),
          };
          const overRest = index % REST_EVERY === 0;
          sends.push({ index, payload, overRest, attempt: await attemptSend(a, alice, payload, overRest) });
        }
        const outageMs = performance.now() - outageStartedAt;
        expect(server.running).toBe(false);
        expect([a.running, b.running]).toEqual([true, true]);
        expect([alice.socket.connected, bob.socket.connected]).toEqual([true, true]);

        const connectionsBack = [a, b].flatMap((instance) =>
          REDIS_CONNECTIONS.map((connection) =>
            instance.waitForLine(
              new RegExp(`Redis connection "${connection}" is back`),
              REDIS_NOTICE_LIMIT_MS,
            ),
          ),
        );
        const restartedAt = performance.now();
        await server.restart();
        await Promise.all(connectionsBack);
        await pollUntil(
          () => adapterSubscriptions(server),
          (subscriptions) => JSON.stringify(subscriptions) === JSON.stringify(subscriptionsBefore),
          { what: 'the adapter subscriptions of both instances', timeoutMs: REDIS_NOTICE_LIMIT_MS },
        );
        const resubscribedMs = performance.now() - restartedAt;

        const unacknowledged = sends.filter(({ attempt }) => !attempt.acked);
        const repeated = [false, true].flatMap((overRest) =>
          sends.filter((sent) => sent.overRest === overRest && sent.attempt.acked).slice(0, 1),
        );
        const retries = new Map(
          await Promise.all(
            [...unacknowledged, ...repeated].map(
              async (sent) => [sent, await attemptSend(a, alice, sent.payload, sent.overRest)] as const,
            ),
          ),
        );
        for (const sent of repeated) {
          expect(retries.get(sent)).toMatchObject({
            acked: true,
            message: acknowledgedMessage(sent),
            ...(sent.overRest ? { httpStatus: 200 } : {}),
          });
        }
        const acknowledged = sends.map((sent) => acknowledgedMessage(sent, retries.get(sent)));
        const expected = [...acknowledged].sort((x, y) => x.id - y.id);
        expect(new Set(expected.map((message) => message.id)).size).toBe(OUTAGE_MESSAGES);
        const pages = await syncPages(bob.socket, chat.id, lastReceivedId, SYNC_PAGE_SIZE);
        const synced = pages.flatMap((page) => page.messages);
        expect(synced).toEqual(expected);
        expect(pages.map((page) => page.messages.length)).toEqual(pageSizes(expected.length, SYNC_PAGE_SIZE));
        expect(pages.map((page) => page.hasMore)).toEqual(pages.map((_, index) => index < pages.length - 1));
        expect(
          await listMessages(b, bob.userId, chat.id, `?after=${lastReceivedId}&limit=${OUTAGE_MESSAGES}`),
        ).toEqual({
          messages: expected,
          hasMore: false,
        });

        const sentAt = performance.now();
        await expectDelivery(bob.inbox, await send(alice, chat.id, 'after the outage'));
        const liveDeliveryMs = performance.now() - sentAt;

        const latencies = (overRest: boolean) =>
          sends.filter((sent) => sent.overRest === overRest).map((sent) => sent.attempt.latencyMs);
        const retriedStatuses = [...retries.values()].map((retry) =>
          retry.acked ? (retry.httpStatus ?? 'socket ack') : retry.failure,
        );
        timings.push(
          `outage: ${OUTAGE_MESSAGES} sends in ${ms(outageMs)}, ${OUTAGE_MESSAGES - unacknowledged.length} acknowledged while Redis was down (${unacknowledged.length} not within ${ms(ACK_PATIENCE_MS)})`,
          `outage: ack latency over the socket max ${ms(Math.max(...latencies(false)))}, median ${ms(median(latencies(false)))}; over REST max ${ms(Math.max(...latencies(true)))}, median ${ms(median(latencies(true)))}`,
          `outage: ${retries.size} resent with the same clientId after the restart, answered ${retriedStatuses.join(', ')}`,
          `outage: ${acknowledged.length} acknowledged in all, chat:sync returned ${synced.length} in ${pages.length} pages of at most ${SYNC_PAGE_SIZE}`,
          `outage: Redis connections back and adapters resubscribed ${ms(resubscribedMs)} after the Redis restart; live delivery A → B ${ms(liveDeliveryMs)} after the send`,
        );
        // Checked last, so that slow acknowledgements do not keep the catch-up from being checked.
        expect(unacknowledged.map(describeFailure)).toEqual([]);
      },
      OUTAGE_TEST_TIMEOUT_MS,
    );
  });
});

/** One send of `member` on `instance`, given up after `ACK_PATIENCE_MS` as a client would. */
async function attemptSend(
  instance: AppProcess,
  member: ChatMember,
  payload: SendMessageRequest,
  overRest: boolean,
): Promise<SendAttempt> {
  const started = performance.now();
  const settle = (
    outcome: Omit<AckedAttempt, 'latencyMs'> | Omit<FailedAttempt, 'latencyMs'>,
  ): SendAttempt => ({
    ...outcome,
    latencyMs: performance.now() - started,
  });
  try {
    if (!overRest) {
      // socket.io-client types the answer of a `timeout()` emit as `any`.
      const answer: unknown = await member.socket
        .timeout(ACK_PATIENCE_MS)
        .emitWithAck(ChatEvent.SendMessage, payload);
      const ack = answer as AckResponse<ChatMessage>;
      return settle(
        ack.ok
          ? { acked: true, message: ack.data }
          : { acked: false, failure: `${ack.error.code}: ${ack.error.message}` },
      );
    }
    const { chatId, content, clientId } = payload;
    const response = await request(instance.url)
      .post(`/api/chats/${chatId}/messages`)
      .set(bearer(member.userId))
      .timeout(ACK_PATIENCE_MS)
      .send({ content, clientId });
    return settle(
      response.status === 201 || response.status === 200
        ? { acked: true, message: dataOf<ChatMessage>(response), httpStatus: response.status }
        : { acked: false, failure: `HTTP ${response.status}: ${JSON.stringify(response.body)}` },
    );
  } catch (error) {
    return settle({ acked: false, failure: error instanceof Error ? error.message : String(error) });
  }
}

/** The message a send stored, from its first acknowledged attempt. */
function acknowledgedMessage(sent: OutageSend, retry?: SendAttempt): ChatMessage {
  const acked = [sent.attempt, retry].find((attempt) => attempt?.acked);
  if (!acked?.acked) {
    throw new Error(
      `Send not acknowledged even after Redis was back: ${describeFailure(sent)}; retry: ${retry?.acked === false ? retry.failure : 'none'}`,
    );
  }
  return acked.message;
}

function describeFailure({ index, overRest, attempt }: OutageSend): string {
  const outcome = attempt.acked ? 'acknowledged' : attempt.failure;
  return `#${index} over ${overRest ? 'REST' : 'the socket'} after ${ms(attempt.latencyMs)}: ${outcome}`;
}

/** Every message after `afterMessageId`, `limit` at a time, as the pages `chat:sync` answered. */
async function syncPages(
  socket: ChatSocket,
  chatId: string,
  afterMessageId: number,
  limit: number,
): Promise<MessagePage[]> {
  const pages: MessagePage[] = [];
  let after = afterMessageId;
  for (;;) {
    const page = ackData(await socket.emitWithAck(ChatEvent.Sync, { chatId, afterMessageId: after, limit }));
    pages.push(page);
    if (!page.hasMore) return pages;
    const last = page.messages.at(-1);
    if (!last || last.id <= after) {
      throw new Error(`chat:sync after ${after} answered hasMore without moving on: ${JSON.stringify(page)}`);
    }
    after = last.id;
  }
}

/** The sizes of the pages `total` messages fill, `limit` to a page. */
function pageSizes(total: number, limit: number): number[] {
  return Array.from({ length: Math.ceil(total / limit) }, (_, index) =>
    Math.min(limit, total - index * limit),
  );
}

/**
 * The subscriptions of every instance's adapter subscriber, sorted. Channels (server-side
 * requests) and patterns (broadcasts) are counted apart: after a restart the connection
 * resubscribes to both, and a broadcast reaches it only once its patterns are back.
 */
async function adapterSubscriptions(redis: RunningRedis): Promise<Subscriptions[]> {
  const connection = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await connection.connect();
    const clients = (await connection.client('LIST')) as string;
    return clients
      .split('\n')
      .map((line) => new Map(line.split(' ').map((field) => field.split('=', 2) as [string, string])))
      .filter((fields) => fields.get('name') === ADAPTER_SUBSCRIBER_NAME)
      .map((fields) => ({ channels: Number(fields.get('sub')), patterns: Number(fields.get('psub')) }))
      .sort((x, y) => x.channels - y.channels || x.patterns - y.patterns);
  } finally {
    connection.disconnect();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** Resolves once `message:new` of `message` is in `inbox`, checked to be the enveloped stored message. */
async function expectDelivery(inbox: ChatInbox, message: ChatMessage): Promise<void> {
  const envelope = await inbox.waitFor(
    ChatEvent.NewMessage,
    (data) => data.id === message.id,
    DELIVERY_LIMIT_MS,
  );
  expect(envelope).toEqual({
    type: ChatEvent.NewMessage,
    data: message,
    timestamp: expect.stringMatching(ISO_TIMESTAMP),
  });
}
