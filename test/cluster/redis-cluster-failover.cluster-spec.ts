import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { CHAT_NAMESPACE, ChatEvent, type ChatMessage } from '../../src/chat/chat.events.js';
import type { Chat } from '../../src/chat/chat.types.js';
import type { AckResponse } from '../../src/contracts/index.js';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { ackData, type ChatMember, joinChat, stopStarted } from '../support/cluster.js';
import { closeAll } from '../support/clients.js';
import { pollUntil } from '../support/polling.js';
import {
  describeWithRedisCluster,
  startRedisCluster,
  type TestRedisCluster,
} from '../support/redis-cluster.js';
import { signToken } from '../support/tokens.js';

interface Member extends ChatMember {
  /** When each `message:new` arrived, by message id. */
  arrivals: Map<number, number>;
}

/** One member's side of a chat: it sends to `peer`, connected to the other instance. */
interface Direction {
  chatId: string;
  sender: Member;
  peer: Member;
}

interface Sent {
  direction: Direction;
  message: ChatMessage;
  sentAt: number;
}

interface HealthBody {
  status: 'ok' | 'degraded' | 'down';
  reasons?: string[];
  checks: { redis: { status: string } };
}

const KEY_PREFIX = 'redis-failover-test:';
const CLUSTER_ENV = { REDIS_KEY_PREFIX: KEY_PREFIX, SESSIONS_BROADCAST_MS: '200' };
/** The sharded adapter's channel for the broadcasts of `/chat` ('static' subscription mode). */
const CHAT_CHANNEL = `${KEY_PREFIX}socket.io#${CHAT_NAMESPACE}#`;
/**
 * Chats, each with a member on A and one on B. With the 'static' subscription mode every `/chat`
 * broadcast, whatever its room, travels on the namespace's one channel: the master killed below
 * is the one serving it, which interrupts every chat at once.
 */
const CHATS = 3;
/** Each member sends one message per interval: 6 senders, 60 messages a second in all. */
const SEND_INTERVAL_MS = 100;
const ACK_LIMIT_MS = 5000;
const NODE_TIMEOUT_MS = 2000;
const DELIVERY_LIMIT_MS = 5000;
/** Failure detection (the node timeout), the election, then the clients' slot refresh. */
const PROMOTION_LIMIT_MS = 20_000;
const RESUME_LIMIT_MS = 20_000;
/** Messages each sender still sends, all of them delivered live, once delivery resumed. */
const MESSAGES_AFTER_RESUMING = 10;
const READY_LIMIT_MS = 15_000;
const START_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 60_000;
const SYNC_PAGE = 200;

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const seconds = (ms: number): number => Math.round(ms / 100) / 10;
/** When a message was sent, from its content (`<sender> <sequence> <performance.now()>`). */
const sentAtOf = (message: ChatMessage): number => Number(message.content?.split(' ')[2] ?? NaN);
const sequenceOf = (message: ChatMessage): number => Number(message.content?.split(' ')[1] ?? NaN);

describeWithRedisCluster('failover of a Redis Cluster master, with replicas (REDIS_CLUSTER_NODES)', () => {
  let cluster: TestRedisCluster | undefined;
  let databaseDir: string | undefined;
  let a: AppProcess;
  let b: AppProcess;
  const starting: Promise<AppProcess>[] = [];
  const sockets: Socket[] = [];

  function startInstance(serverId: string, nodes: string, databaseUrl: string): Promise<AppProcess> {
    const instance = startAppProcess({
      serverId,
      env: { ...CLUSTER_ENV, REDIS_CLUSTER_NODES: nodes, DATABASE_URL: databaseUrl },
    });
    starting.push(instance);
    return instance;
  }

  async function join(instance: AppProcess, userId: string): Promise<Member> {
    const member = await joinChat(instance, userId, sockets);
    const arrivals = new Map<number, number>();
    member.socket.on(ChatEvent.NewMessage, ({ data }) => arrivals.set(data.id, performance.now()));
    return { ...member, arrivals };
  }

  beforeAll(async () => {
    cluster = await startRedisCluster({ replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS });
    databaseDir = await mkdtemp(joinPath(tmpdir(), 'switchboard-redis-failover-db-'));
    const databaseUrl = `sqlite:${joinPath(databaseDir, 'shared.db')}`;
    // One after the other: the first one creates the shared database's schema.
    a = await startInstance('rf-a', cluster.nodes, databaseUrl);
    b = await startInstance('rf-b', cluster.nodes, databaseUrl);
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await closeAll(sockets);
    await stopStarted(starting);
    await cluster?.stop();
    if (databaseDir) await rm(databaseDir, { recursive: true, force: true });
  }, START_TIMEOUT_MS);

  it(
    'resumes live delivery between instances once a replica takes over, and chat:sync returns every acked message',
    async () => {
      if (!cluster) throw new Error('the Redis Cluster is not started');
      const directions: Direction[] = [];
      for (let index = 0; index < CHATS; index++) {
        const onA = await join(a, newUser(`a${index}`));
        const onB = await join(b, newUser(`b${index}`));
        const created = await request(a.url)
          .post('/api/chats')
          .set({ Authorization: `Bearer ${signToken({ sub: onA.userId })}` })
          .send({ participantIds: [onB.userId] });
        expect(created.status).toBe(201);
        const chat = (created.body as { data: Chat }).data;
        // Both members are in the chat's room once they were told of it.
        for (const member of [onA, onB]) {
          await member.inbox.waitFor(ChatEvent.ChatCreated, ({ id }) => id === chat.id, DELIVERY_LIMIT_MS);
        }
        directions.push(
          { chatId: chat.id, sender: onA, peer: onB },
          { chatId: chat.id, sender: onB, peer: onA },
        );
      }

      // Every member sends at a steady rate until told to stop, through the whole failover.
      const sent: Sent[] = [];
      let failures = 0;
      let sending = true;
      const senders = directions.map(async (direction) => {
        for (let sequence = 0, next = performance.now(); sending; sequence++) {
          const sentAt = performance.now();
          try {
            // With a timeout the ack is untyped: it is the same `message:send` answer.
            const ack = (await direction.sender.socket
              .timeout(ACK_LIMIT_MS)
              .emitWithAck(ChatEvent.SendMessage, {
                chatId: direction.chatId,
                content: `${direction.sender.userId} ${sequence} ${sentAt}`,
                clientId: randomUUID(),
              })) as AckResponse<ChatMessage>;
            if (ack.ok) sent.push({ direction, message: ack.data, sentAt });
            else failures++;
          } catch {
            failures++;
          }
          next += SEND_INTERVAL_MS;
          await delay(Math.max(0, next - performance.now()));
        }
      });
      const deliveredLive = (direction: Direction, after: number, limitMs: number) =>
        direction.peer.inbox.waitFor(
          ChatEvent.NewMessage,
          (message) => message.senderId === direction.sender.userId && sentAtOf(message) > after,
          limitMs,
        );

      try {
        // Before the failure: every direction delivers across instances.
        const warmUp = performance.now();
        await Promise.all(directions.map((direction) => deliveredLive(direction, warmUp, DELIVERY_LIMIT_MS)));

        // The master that serves the slot of `/chat`'s channel, which both instances listen to.
        const slot = Number((await cluster.command(0, 'cluster', 'keyslot', CHAT_CHANNEL)).trim());
        const topology = await cluster.topology();
        const owner = topology.find(
          (node) =>
            node.role === 'master' && node.slots.some(([first, last]) => first <= slot && slot <= last),
        );
        const replica = topology.find((node) => node.role === 'replica' && node.masterId === owner?.id);
        if (!owner || !replica) throw new Error(`no master with a replica serves slot ${slot}`);
        const ownerIndex = cluster.ports.indexOf(owner.port);
        const replicaIndex = cluster.ports.indexOf(replica.port);
        expect(await cluster.command(ownerIndex, 'pubsub', 'shardnumsub', CHAT_CHANNEL)).toBe(
          `${CHAT_CHANNEL}\n2\n`,
        );

        const killedAt = performance.now();
        await cluster.kill(ownerIndex);

        // The replica is promoted once the other masters flag its master as failed and vote.
        const promotion = await pollUntil(
          () => cluster!.topology(replicaIndex),
          (view) =>
            view.some(
              (node) =>
                node.flags.includes('myself') &&
                node.role === 'master' &&
                node.slots.some(([first, last]) => first <= slot && slot <= last),
            ),
          { what: 'the promotion of the replica', timeoutMs: PROMOTION_LIMIT_MS, intervalMs: 50 },
        );
        const promotedAt = killedAt + promotion.elapsedMs;
        await cluster.waitForOk(PROMOTION_LIMIT_MS);
        const clusterOkAt = performance.now();

        // Without restarting anything, a message sent from now on reaches the other instance,
        // in every chat and both ways.
        const resumed = await Promise.all(
          directions.map((direction) => deliveredLive(direction, clusterOkAt, RESUME_LIMIT_MS)),
        );
        expect(resumed).toHaveLength(directions.length);
        // And keeps doing so: a few more messages each way, all delivered live.
        await Promise.all(
          directions.map((direction, index) => {
            const resumedSequence = sequenceOf(resumed[index]!.data);
            return direction.peer.inbox.waitFor(
              ChatEvent.NewMessage,
              (message) =>
                message.senderId === direction.sender.userId &&
                sequenceOf(message) >= resumedSequence + MESSAGES_AFTER_RESUMING,
              DELIVERY_LIMIT_MS,
            );
          }),
        );
        // Both instances ready again: Redis up, and every namespace's broadcasts reaching both,
        // quiet ones included (the clients refresh the cluster's topology on their own).
        for (const instance of [a, b]) {
          const { value } = await pollUntil(
            () => request(instance.url).get('/api/health/ready'),
            (response) => (response.body as HealthBody).status === 'ok',
            {
              what: `readiness of ${instance.serverId} after the failover`,
              timeoutMs: READY_LIMIT_MS,
              intervalMs: 50,
            },
          );
          expect(value.status).toBe(200);
        }

        // Stop sending; whatever was acked last in each direction is delivered live too.
        sending = false;
        await Promise.all(senders);
        for (const direction of directions) {
          const last = sent.filter((entry) => entry.direction === direction).at(-1);
          if (!last) throw new Error(`nothing was acked from ${direction.sender.userId}`);
          await direction.peer.inbox.waitFor(
            ChatEvent.NewMessage,
            ({ id }) => id === last.message.id,
            DELIVERY_LIMIT_MS,
          );
        }

        // Every acked message is stored: chat:sync returns it, as it was acked.
        const synced = new Map<number, ChatMessage>();
        for (const chatId of new Set(directions.map((direction) => direction.chatId))) {
          const reader = directions.find((direction) => direction.chatId === chatId)!.sender;
          for (let afterMessageId = 0, hasMore = true; hasMore;) {
            const page = ackData(
              await reader.socket.emitWithAck(ChatEvent.Sync, { chatId, afterMessageId, limit: SYNC_PAGE }),
            );
            for (const message of page.messages) synced.set(message.id, message);
            hasMore = page.hasMore;
            afterMessageId = page.messages.at(-1)?.id ?? afterMessageId;
          }
        }
        const missing = sent.filter(({ message }) => !synced.has(message.id));
        expect(missing).toEqual([]);
        for (const { message } of sent) expect(synced.get(message.id)).toEqual(message);

        // The figures.
        const live = sent.filter(({ direction, message }) => direction.peer.arrivals.has(message.id));
        // Per direction, when the first message sent after the kill arrived live.
        const resumedAt = directions.map((direction) =>
          Math.min(
            ...live
              .filter((entry) => entry.direction === direction && entry.sentAt > killedAt)
              .map(({ message }) => direction.peer.arrivals.get(message.id)!),
          ),
        );
        const firstLiveAfterKill = Math.min(...resumedAt);
        const allResumed = Math.max(...resumedAt);
        // Sent between the kill and the first live delivery after it: some arrive late, once the
        // publisher's retries find the new master.
        const duringOutage = sent.filter(({ sentAt }) => sentAt >= killedAt && sentAt < firstLiveAfterKill);
        const late = duringOutage.filter(({ direction, message }) => direction.peer.arrivals.has(message.id));
        const latest = Math.max(
          0,
          ...late.map(({ direction, message, sentAt }) => direction.peer.arrivals.get(message.id)! - sentAt),
        );
        console.log(
          [
            'Redis Cluster failover (3 masters + 3 replicas, cluster-node-timeout ' +
              `${NODE_TIMEOUT_MS} ms, ${directions.length} senders × ${1000 / SEND_INTERVAL_MS}/s)`,
            `  messages acked                      ${sent.length} (failed or unacked: ${failures})`,
            `  live-delivered cross-instance       ${live.length}`,
            `  recovered only by chat:sync         ${sent.length - live.length}`,
            `  sent during the outage              ${duringOutage.length}` +
              ` (delivered live late: ${late.length}, up to ${seconds(latest)} s after sending)`,
            `  s from kill to promotion            ${seconds(promotedAt - killedAt)}` +
              ` (cluster_state:ok everywhere: ${seconds(clusterOkAt - killedAt)})`,
            `  s from kill to live delivery again  ${seconds(firstLiveAfterKill - killedAt)}` +
              ` (every chat both ways: ${seconds(allResumed - killedAt)})`,
          ].join('\n'),
        );
      } finally {
        sending = false;
        await Promise.all(senders);
      }
    },
    TEST_TIMEOUT_MS,
  );
});
