import { Cluster, Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { ChatEvent } from '../../src/chat/chat.events.js';
import type { Chat } from '../../src/chat/chat.types.js';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { ackCount, ackData, type ChatMember, joinChat, restCount, stopStarted } from '../support/cluster.js';
import { client, closeAll, connected, disconnected, nextEvent, refused } from '../support/clients.js';
import { pollUntil } from '../support/polling.js';
import {
  describeWithRedisCluster,
  startRedisCluster,
  type TestRedisCluster,
} from '../support/redis-cluster.js';
import { signToken } from '../support/tokens.js';

/**
 * Rate limits stay at their defaults, so the handshake and REST limiters count in the cluster
 * too. The sessions count is pushed often enough for a test to see it.
 */
interface HealthBody {
  status: 'ok' | 'degraded' | 'down';
  reasons?: string[];
  checks: { redis: { status: string }; database: { status: string } };
}

const CLUSTER_ENV = {
  REDIS_KEY_PREFIX: 'redis-cluster-test:',
  SESSIONS_BROADCAST_MS: '200',
};
const START_TIMEOUT_MS = 120_000;
const DELIVERY_LIMIT_MS = 5000;
const AGREEMENT_LIMIT_MS = 3000;
const REVOCATION_LIMIT_MS = 2000;
/** The cluster's node timeout (2 s) before the others mark the master failed, and a margin. */
const MASTER_LOSS_LIMIT_MS = 15_000;
const MASTER_LOSS_TEST_TIMEOUT_MS = 60_000;
const BROADCASTS_INTERRUPTED = 'broadcasts to and from other instances are interrupted: ';

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const dataOf = <T>(response: { body: unknown }): T => (response.body as { data: T }).data;

describeWithRedisCluster('two instances on a three-master Redis Cluster (REDIS_CLUSTER_NODES)', () => {
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

  function open<S extends Socket = Socket>(instance: AppProcess, namespace: string, token: string): S {
    const socket = client(instance.url, namespace, { auth: { token } });
    sockets.push(socket);
    return socket as S;
  }

  const join = (instance: AppProcess, userId: string): Promise<ChatMember> =>
    joinChat(instance, userId, sockets);

  beforeAll(async () => {
    cluster = await startRedisCluster();
    databaseDir = await mkdtemp(joinPath(tmpdir(), 'switchboard-redis-cluster-db-'));
    const databaseUrl = `sqlite:${joinPath(databaseDir, 'shared.db')}`;
    // One after the other: the first one creates the shared database's schema.
    a = await startInstance('rc-a', cluster.nodes, databaseUrl);
    b = await startInstance('rc-b', cluster.nodes, databaseUrl);
  }, START_TIMEOUT_MS);

  afterEach(async () => {
    await closeAll(sockets);
  });

  afterAll(async () => {
    await closeAll(sockets);
    await stopStarted(starting);
    await cluster?.stop();
    if (databaseDir) await rm(databaseDir, { recursive: true, force: true });
  }, START_TIMEOUT_MS);

  it('delivers a message sent on A to the member connected to B, and back', async () => {
    const alice = await join(a, newUser('alice'));
    const bob = await join(b, newUser('bob'));

    const created = await request(a.url)
      .post('/api/chats')
      .set(bearer(signToken({ sub: alice.userId })))
      .send({ participantIds: [bob.userId] });
    expect(created.status).toBe(201);
    const chat = dataOf<Chat>(created);
    for (const member of [alice, bob]) {
      expect((await member.inbox.waitFor(ChatEvent.ChatCreated, undefined, DELIVERY_LIMIT_MS)).data).toEqual(
        chat,
      );
    }

    const greeting = ackData(
      await alice.socket.emitWithAck(ChatEvent.SendMessage, {
        chatId: chat.id,
        content: 'hello from A',
        clientId: randomUUID(),
      }),
    );
    const delivered = await bob.inbox.waitFor(
      ChatEvent.NewMessage,
      (message) => message.id === greeting.id,
      DELIVERY_LIMIT_MS,
    );
    expect(delivered.data).toEqual(greeting);

    const reply = ackData(
      await bob.socket.emitWithAck(ChatEvent.SendMessage, {
        chatId: chat.id,
        content: 'hello from B',
        clientId: randomUUID(),
      }),
    );
    expect(
      (
        await alice.inbox.waitFor(
          ChatEvent.NewMessage,
          (message) => message.id === reply.id,
          DELIVERY_LIMIT_MS,
        )
      ).data,
    ).toEqual(reply);
  });

  it('agrees on the sessions count on both instances', async () => {
    const onA = open(a, '/', signToken({ sub: newUser('count-a') }));
    const onB = open(b, '/', signToken({ sub: newUser('count-b') }));
    await Promise.all([connected(onA), connected(onB)]);

    const agreement = await pollUntil(
      () => Promise.all([restCount(a), restCount(b), ackCount(onA), ackCount(onB)]),
      (counts) => counts.every((count) => count === 2),
      { what: 'the sessions count on A and B, over REST and the socket', timeoutMs: AGREEMENT_LIMIT_MS },
    );
    expect(agreement.value).toEqual([2, 2, 2, 2]);
  });

  it('closes the socket on B of a session revoked on A, and refuses its token afterwards', async () => {
    const userId = newUser('revoked');
    const sessionId = `session-${randomUUID()}`;
    const token = signToken({ sub: userId, sid: sessionId });
    const socket = open(b, '/', token);
    await connected(socket);
    await pollUntil(
      () => restCount(a),
      (count) => count === 1,
      { what: 'the session on B as counted by A', timeoutMs: AGREEMENT_LIMIT_MS },
    );
    const notice = nextEvent<{ data: { sessionId: string } }>(socket, 'auth:revoked', REVOCATION_LIMIT_MS);
    const gone = disconnected(socket, REVOCATION_LIMIT_MS);

    const response = await request(a.url).delete(`/api/sessions/${sessionId}`).set(bearer(token));

    expect(response.status).toBe(200);
    expect(dataOf(response)).toEqual({ sessionId, disconnected: 1 });
    expect((await notice).data.sessionId).toBe(sessionId);
    await gone;
    const again = await refused(open(b, '/', token));
    expect(again.message).toBe('AUTH_REVOKED');
  });

  it('keeps its shared state in the cluster: rate limit counters, and each group of keys in one slot', async () => {
    const socket = open(a, '/', signToken({ sub: newUser('counted') }));
    await connected(socket);
    await restCount(b);
    if (!cluster) throw new Error('the Redis Cluster is not started');

    const keys = await keysByNode(cluster, `${CLUSTER_ENV.REDIS_KEY_PREFIX}*`);
    const all = keys.flat();
    // Written by the Redis limiters themselves: one that failed on a Cluster client would have
    // fallen back to counting in memory, leaving nothing here.
    expect(all).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^redis-cluster-test:ratelimit:handshake/),
        expect.stringMatching(/^redis-cluster-test:ratelimit:rest-ip/),
        expect.stringMatching(/^redis-cluster-test:ratelimit:rest-user/),
      ]),
    );
    // MULTI and multi-key commands need all their keys in one slot: each hash tag lives on one node.
    for (const tag of ['{registry}', '{revoked}']) {
      const holders = keys.filter((onNode) => onNode.some((key) => key.includes(tag)));
      expect({ tag, nodes: holders.length }).toEqual({ tag, nodes: 1 });
    }
  });

  it('reports ready on both instances while broadcasts reach every live instance', async () => {
    for (const instance of [a, b]) {
      const { value } = await pollUntil(
        () => readiness(instance),
        ({ body }) => body.status === 'ok',
        { what: `readiness of ${instance.serverId}`, timeoutMs: AGREEMENT_LIMIT_MS, intervalMs: 50 },
      );
      expect(value).toEqual({
        status: 200,
        body: expect.objectContaining({
          status: 'ok',
          checks: {
            redis: expect.objectContaining({ status: 'up' }),
            database: expect.objectContaining({ status: 'up' }),
          },
        }),
      });
      expect(value.body.reasons).toBeUndefined();
    }
  });

  // Last: the cluster is broken from here on.
  it(
    'reports degraded, naming the broadcasts, once a master is gone',
    async () => {
      if (!cluster) throw new Error('the Redis Cluster is not started');
      await cluster.kill(2);

      for (const instance of [a, b]) {
        const { value } = await pollUntil(
          () => readiness(instance),
          ({ body }) =>
            body.checks.redis.status === 'down' &&
            (body.reasons ?? []).some((reason) => reason.startsWith(BROADCASTS_INTERRUPTED)),
          {
            what: `readiness of ${instance.serverId} without a master`,
            timeoutMs: MASTER_LOSS_LIMIT_MS,
            intervalMs: 50,
          },
        );
        // Degraded, not down: each instance keeps serving its own clients.
        expect(value.status).toBe(200);
        expect(value.body.status).toBe('degraded');
      }
    },
    MASTER_LOSS_TEST_TIMEOUT_MS,
  );
});

describeWithRedisCluster('a Redis Cluster that requires a password (REDIS_PASSWORD)', () => {
  const PASSWORD = 'cluster-secret-for-tests';
  let cluster: TestRedisCluster | undefined;
  const instances: AppProcess[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster({ password: PASSWORD });
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await closeAll(sockets);
    await Promise.all(instances.map((instance) => instance.stop()));
    await cluster?.stop();
  }, START_TIMEOUT_MS);

  async function start(serverId: string, password: string): Promise<AppProcess> {
    if (!cluster) throw new Error('the cluster did not start');
    const instance = await startAppProcess({
      serverId,
      env: { ...CLUSTER_ENV, REDIS_CLUSTER_NODES: cluster.nodes, REDIS_PASSWORD: password },
    });
    instances.push(instance);
    return instance;
  }

  it(
    'serves with the password, counting its connections in the cluster',
    async () => {
      const instance = await start('rc-auth', PASSWORD);
      await pollUntil(
        () => readiness(instance),
        ({ body }) => body.status === 'ok',
        { what: 'readiness with the password', timeoutMs: AGREEMENT_LIMIT_MS, intervalMs: 50 },
      );
      const socket = client(instance.url, '/', { auth: { token: signToken({ sub: newUser('auth') }) } });
      sockets.push(socket);
      await connected(socket);
      await pollUntil(
        () => restCount(instance),
        (count) => count === 1,
        {
          what: 'the count of a password-protected cluster',
          timeoutMs: AGREEMENT_LIMIT_MS,
        },
      );
    },
    START_TIMEOUT_MS,
  );

  it(
    'reports degraded, not ok, with a wrong password',
    async () => {
      const instance = await start('rc-wrong-auth', 'not-the-password');
      const { status, body } = await readiness(instance);
      expect(status).toBe(200);
      expect(body.status).toBe('degraded');
    },
    START_TIMEOUT_MS,
  );
});

/**
 * Nodes that announce endpoints this host cannot use, as inside a container network: each one a
 * name that never resolves (`.invalid`) and the port it would have in its container, 6379. The
 * nodes still reach one another (the cluster bus keeps the addresses it learned), and a client
 * seeded with the nodes' real addresses learns the announced ones from `CLUSTER SLOTS`.
 *
 * Announcing an unroutable IP instead (`cluster-announce-ip 10.255.255.1`) would not do on one
 * host: the nodes use the announced IP for the cluster bus too, lose their links to one another
 * (`CLUSTER NODES` shows them `disconnected`) and could no longer detect a failure.
 */
describeWithRedisCluster(
  'a Redis Cluster whose nodes announce unreachable addresses (REDIS_CLUSTER_NAT_MAP)',
  () => {
    const ANNOUNCED_PORT = 6379;
    const announcedHost = (index: number) => `node-${index}.switchboard-nat.invalid`;
    let cluster: TestRedisCluster | undefined;
    let databaseDir: string | undefined;
    const starting: Promise<AppProcess>[] = [];
    const sockets: Socket[] = [];

    function startInstance(serverId: string, env: Record<string, string>): Promise<AppProcess> {
      const instance = startAppProcess({ serverId, env: { ...CLUSTER_ENV, ...env } });
      starting.push(instance);
      return instance;
    }

    beforeAll(async () => {
      const started = await startRedisCluster();
      cluster = started;
      for (const [index] of started.ports.entries()) {
        await started.command(index, 'config', 'set', 'cluster-announce-hostname', announcedHost(index));
        await started.command(index, 'config', 'set', 'cluster-announce-port', String(ANNOUNCED_PORT));
        await started.command(index, 'config', 'set', 'cluster-preferred-endpoint-type', 'hostname');
      }
      // Until every node hands out the announced endpoints alone, for every slot.
      const expected = started.ports.map((_, index) => `${announcedHost(index)}:${ANNOUNCED_PORT}`).sort();
      await pollUntil(
        () => Promise.all(started.ports.map((port) => slotEndpoints(port))),
        (views) => views.every((view) => JSON.stringify(view) === JSON.stringify(expected)),
        {
          what: 'the announced endpoints in every node’s CLUSTER SLOTS',
          timeoutMs: AGREEMENT_LIMIT_MS * 3,
          intervalMs: 50,
        },
      );
      // The nodes still reach one another: they gossip over the addresses they already knew.
      await started.waitForOk();
      databaseDir = await mkdtemp(joinPath(tmpdir(), 'switchboard-redis-nat-db-'));
    }, START_TIMEOUT_MS);

    afterAll(async () => {
      await closeAll(sockets);
      await stopStarted(starting);
      await cluster?.stop();
      if (databaseDir) await rm(databaseDir, { recursive: true, force: true });
    }, START_TIMEOUT_MS);

    it(
      'delivers across instances through the mapped addresses',
      async () => {
        if (!cluster || !databaseDir) throw new Error('the Redis Cluster is not started');
        const natMap = cluster.ports
          .map((port, index) => `${announcedHost(index)}:${ANNOUNCED_PORT}=127.0.0.1:${port}`)
          .join(',');
        const env = {
          REDIS_CLUSTER_NODES: cluster.nodes,
          REDIS_CLUSTER_NAT_MAP: natMap,
          DATABASE_URL: `sqlite:${joinPath(databaseDir, 'shared.db')}`,
        };
        // One after the other: the first one creates the shared database's schema.
        const a = await startInstance('nat-a', env);
        const b = await startInstance('nat-b', env);
        for (const instance of [a, b]) {
          await pollUntil(
            () => readiness(instance),
            ({ body }) => body.status === 'ok',
            { what: `readiness of ${instance.serverId}`, timeoutMs: AGREEMENT_LIMIT_MS, intervalMs: 50 },
          );
        }

        const alice = await joinChat(a, newUser('alice'), sockets);
        const bob = await joinChat(b, newUser('bob'), sockets);
        const created = await request(a.url)
          .post('/api/chats')
          .set(bearer(signToken({ sub: alice.userId })))
          .send({ participantIds: [bob.userId] });
        expect(created.status).toBe(201);
        const chat = dataOf<Chat>(created);
        await bob.inbox.waitFor(ChatEvent.ChatCreated, ({ id }) => id === chat.id, DELIVERY_LIMIT_MS);
        const sent = ackData(
          await alice.socket.emitWithAck(ChatEvent.SendMessage, {
            chatId: chat.id,
            content: 'through the NAT map',
            clientId: randomUUID(),
          }),
        );
        const delivered = await bob.inbox.waitFor(
          ChatEvent.NewMessage,
          ({ id }) => id === sent.id,
          DELIVERY_LIMIT_MS,
        );
        expect(delivered.data).toEqual(sent);
      },
      START_TIMEOUT_MS,
    );

    it(
      'reports degraded, not ok, without the map: the seed nodes answer, the announced ones do not',
      async () => {
        if (!cluster) throw new Error('the Redis Cluster is not started');
        const instance = await startInstance('nat-unmapped', { REDIS_CLUSTER_NODES: cluster.nodes });
        const { status, body } = await readiness(instance);
        expect(status).toBe(200);
        expect(body.status).toBe('degraded');
        expect(body.checks.redis.status).toBe('down');
        expect(instance.running).toBe(true);
      },
      START_TIMEOUT_MS,
    );
  },
);

/** `host:port` of every master in the `CLUSTER SLOTS` answer of the node at `port`, sorted. */
async function slotEndpoints(port: number): Promise<string[]> {
  const connection = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  try {
    await connection.connect();
    const slots = await connection.cluster('SLOTS');
    return slots
      .map(([first, , master]) => {
        if (!master) throw new Error(`no master for the slots from ${first}`);
        return `${master[0]}:${master[1]}`;
      })
      .sort();
  } finally {
    connection.disconnect();
  }
}

/** Readiness of `instance`, status and body. */
async function readiness(instance: AppProcess): Promise<{ status: number; body: HealthBody }> {
  const response = await request(instance.url).get('/api/health/ready');
  return { status: response.status, body: response.body as HealthBody };
}

/** The keys matching `pattern` on each master of the cluster. */
async function keysByNode(cluster: TestRedisCluster, pattern: string): Promise<string[][]> {
  const connection = new Cluster(
    cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
    { lazyConnect: true },
  );
  try {
    await connection.connect();
    return await Promise.all(connection.nodes('master').map((node) => node.keys(pattern)));
  } finally {
    connection.disconnect();
  }
}
