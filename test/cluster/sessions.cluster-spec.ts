import { Redis } from 'ioredis';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { ackCount, restCount, stopStarted } from '../support/cluster.js';
import { client, closeAll, connected, disconnected, nextEvent, refused } from '../support/clients.js';
import { ms, pollUntil } from '../support/polling.js';
import { describeWithRedis, startRedis, type TestRedis } from '../support/redis-server.js';
import { signToken } from '../support/tokens.js';

interface Envelope<T> {
  type: string;
  data: T;
  timestamp: string;
}

interface SessionView {
  id: string;
  userId: string;
  connectionId: string;
  instanceId: string;
  namespaces: string[];
}

interface HealthBody {
  status: 'ok' | 'degraded' | 'down';
  serverId: string;
  reasons?: string[];
  checks: { redis: { status: string }; database: { status: string } };
}

const PRESENCE_TTL_MS = 3000;
const HEARTBEAT_MS = PRESENCE_TTL_MS / 3;
const KEY_PREFIX = 'cluster-test:';
const CLUSTER_ENV = {
  PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
  SESSIONS_BROADCAST_MS: '200',
  REDIS_KEY_PREFIX: KEY_PREFIX,
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
};
/** The channel every instance's Socket.IO adapter subscribes to for server-side events. */
const ADAPTER_REQUEST_CHANNEL = `${KEY_PREFIX}socket.io-request#/#`;

const COUNT_AGREEMENT_LIMIT_MS = 2000;
const PUSH_LIMIT_MS = 2000;
const REVOCATION_LIMIT_MS = 1000;
/** Slack over PRESENCE_TTL_MS for the last poll and a late heartbeat timer on a busy machine. */
const DECAY_MARGIN_MS = 1000;

const adminToken = signToken({ sub: 'cluster-admin', roles: ['admin'] });
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describeWithRedis('sessions across a cluster of instances', () => {
  let redis: TestRedis | undefined;
  let a: AppProcess;
  let b: AppProcess;
  const starting: Promise<AppProcess>[] = [];
  const sockets: Socket[] = [];
  const timings: string[] = [];

  function startInstance(serverId: string, env: Record<string, string> = {}): Promise<AppProcess> {
    if (!redis) throw new Error('Redis is not started');
    const instance = startAppProcess({ serverId, redisUrl: redis.url, env: { ...CLUSTER_ENV, ...env } });
    starting.push(instance);
    return instance;
  }

  function open(instance: AppProcess, token: string): Socket {
    const socket = client(instance.url, '/', { auth: { token } });
    sockets.push(socket);
    return socket;
  }

  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([startInstance('node-a'), startInstance('node-b')]);
  });

  afterEach(async () => {
    await closeAll(sockets);
    if (redis && !redis.running) {
      await redis.restart();
      await pollUntil(
        () => healthOf(a),
        ({ body }) => body.status === 'ok',
        { what: 'health of A after restarting Redis', timeoutMs: 10_000 },
      );
    }
    if (a?.running) {
      await pollUntil(
        () => restCount(a),
        (count) => count === 0,
        {
          what: 'the global count after the test',
          timeoutMs: PRESENCE_TTL_MS + DECAY_MARGIN_MS,
        },
      );
    }
  });

  afterAll(async () => {
    await closeAll(sockets);
    await stopStarted(starting);
    await redis?.stop();
    if (timings.length > 0) console.info(`Cluster timings:\n  ${timings.join('\n  ')}`);
  });

  it('agrees on the global count on every instance, over REST and over the socket, and pushes changes', async () => {
    const firstOnA = open(a, signToken({ sub: 'count-a1' }));
    const secondOnA = open(a, signToken({ sub: 'count-a2' }));
    await Promise.all([connected(firstOnA), connected(secondOnA)]);
    const pushedThree = timestamped(countPush(firstOnA, 3, 10_000));

    const onB = open(b, signToken({ sub: 'count-b1' }));
    await connected(onB);
    const connectedAt = performance.now();

    const agreement = await pollUntil(
      () => Promise.all([restCount(a), restCount(b), ackCount(secondOnA), ackCount(onB)]),
      (counts) => counts.every((count) => count === 3),
      { what: 'the count on A and B, over REST and the socket', timeoutMs: COUNT_AGREEMENT_LIMIT_MS },
    );
    expect(agreement.elapsedMs).toBeLessThan(COUNT_AGREEMENT_LIMIT_MS);
    const pushDelay = (await pushedThree).at - connectedAt;
    timings.push(
      `count agreement (REST and ack on A and B) ${ms(agreement.elapsedMs)} after the connect on B`,
    );
    timings.push(`sessions:count push on A ${ms(pushDelay)} after the connect on B`);
    expect(pushDelay).toBeLessThan(PUSH_LIMIT_MS);
  });

  it('revokes on one instance a session whose socket sits on another', async () => {
    const token = signToken({ sub: 'revoke-user', sid: 'revoke-across' });
    const socket = open(b, token);
    await connected(socket);
    await pollUntil(
      () => sessionsOfUser(a, 'revoke-user'),
      (sessions) => sessions.length === 1,
      {
        what: 'the session on B as listed by A',
        timeoutMs: COUNT_AGREEMENT_LIMIT_MS,
      },
    );
    const notice = nextEvent<Envelope<{ sessionId: string }>>(socket, 'auth:revoked');
    const gone = timestamped(disconnected(socket));

    const response = await request(a.url).delete('/api/sessions/revoke-across').set(bearer(token));
    const respondedAt = performance.now();

    expect(response.status).toBe(200);
    expect((response.body as { data: unknown }).data).toEqual({
      sessionId: 'revoke-across',
      disconnected: 1,
    });
    expect((await notice).data.sessionId).toBe('revoke-across');
    const disconnectDelay = (await gone).at - respondedAt;
    timings.push(`revocation on A closed the socket on B ${ms(disconnectDelay)} after the DELETE response`);
    expect(disconnectDelay).toBeLessThan(REVOCATION_LIMIT_MS);

    const again = await refused(open(b, token));
    expect(again.message).toBe('AUTH_REVOKED');
    expect(again.data).toEqual({ code: 'AUTH_REVOKED', message: expect.any(String) });
  });

  it('lists the sessions of every instance, with their instance ids, to an admin', async () => {
    await Promise.all([
      connected(open(a, signToken({ sub: 'list-a', sid: 'listed-on-a' }))),
      connected(open(b, signToken({ sub: 'list-b', sid: 'listed-on-b' }))),
    ]);

    const listed = await pollUntil(
      () => listSessions(a),
      (page) => page.totalCount === 2,
      {
        what: 'the sessions listed by A',
        timeoutMs: COUNT_AGREEMENT_LIMIT_MS,
      },
    );
    const sessions = [...listed.value.sessions].sort((x, y) => x.id.localeCompare(y.id));
    expect(sessions).toEqual([
      expect.objectContaining({
        id: 'listed-on-a',
        userId: 'list-a',
        instanceId: a.serverId,
        namespaces: ['/'],
      }),
      expect.objectContaining({
        id: 'listed-on-b',
        userId: 'list-b',
        instanceId: b.serverId,
        namespaces: ['/'],
      }),
    ]);
  });

  describe('with MAX_CONNECTIONS_PER_USER=1', () => {
    let limited: AppProcess;

    beforeAll(async () => {
      limited = await startInstance('node-limited', { MAX_CONNECTIONS_PER_USER: '1' });
    });
    afterAll(() => limited?.stop());

    it('refuses a connection of a user already connected to another instance', async () => {
      const first = open(a, signToken({ sub: 'limited-user' }));
      await connected(first);
      await pollUntil(
        () => sessionsOfUser(limited, 'limited-user'),
        (sessions) => sessions.length === 1,
        { what: 'the connection on A as seen by the limited instance', timeoutMs: COUNT_AGREEMENT_LIMIT_MS },
      );

      const refusal = await refused(open(limited, signToken({ sub: 'limited-user' })));
      expect(refusal.message).toBe('CONNECTION_LIMIT');
      expect(refusal.data).toEqual({ code: 'CONNECTION_LIMIT', message: expect.any(String) });
      await connected(open(limited, signToken({ sub: 'another-user' })));

      first.close();
      await pollUntil(
        () => sessionsOfUser(limited, 'limited-user'),
        (sessions) => sessions.length === 0,
        {
          what: 'the closed connection on A as seen by the limited instance',
          timeoutMs: COUNT_AGREEMENT_LIMIT_MS,
        },
      );
      await connected(open(limited, signToken({ sub: 'limited-user' })));
    });
  });

  it('drops an instance killed with SIGKILL out of the global count within PRESENCE_TTL_MS', async () => {
    const doomed = await startInstance('node-doomed');
    await Promise.all([
      connected(open(a, signToken({ sub: 'survivor' }))),
      connected(open(doomed, signToken({ sub: 'doomed-1' }))),
      connected(open(doomed, signToken({ sub: 'doomed-2' }))),
    ]);
    await pollUntil(
      () => restCount(a),
      (count) => count === 3,
      {
        what: 'the count on A with the doomed instance',
        timeoutMs: COUNT_AGREEMENT_LIMIT_MS,
      },
    );

    const killedAt = performance.now();
    expect(await doomed.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    await pollUntil(
      () => restCount(a),
      (count) => count === 1,
      {
        what: 'the count on A after the kill',
        timeoutMs: PRESENCE_TTL_MS + DECAY_MARGIN_MS,
        intervalMs: 50,
      },
    );
    const decay = performance.now() - killedAt;
    timings.push(
      `killed instance left the count ${ms(decay)} after SIGKILL (PRESENCE_TTL_MS ${PRESENCE_TTL_MS})`,
    );
    expect(decay).toBeLessThanOrEqual(PRESENCE_TTL_MS + DECAY_MARGIN_MS);
  });

  it('keeps serving while Redis is down and works as a cluster again once Redis is back', async () => {
    const onA = open(a, signToken({ sub: 'outage-a' }));
    const onB = open(b, signToken({ sub: 'outage-b', sid: 'outage-session' }));
    await Promise.all([connected(onA), connected(onB)]);
    await pollUntil(
      () => restCount(a),
      (count) => count === 2,
      {
        what: 'the count on A before the outage',
        timeoutMs: COUNT_AGREEMENT_LIMIT_MS,
      },
    );
    const server = redis;
    if (!server) throw new Error('Redis is not started');

    await server.kill();
    // Degraded, not down: draining every instance at once would turn the outage into a full one.
    for (const instance of [a, b]) {
      const health = await pollUntil(
        () => healthOf(instance),
        ({ body }) => body.status !== 'ok',
        {
          what: `health of ${instance.serverId} while Redis is down`,
          timeoutMs: 10_000,
        },
      );
      expect(health.value.status).toBe(200);
      expect(health.value.body).toMatchObject({
        status: 'degraded',
        serverId: instance.serverId,
        reasons: [expect.stringMatching(/^redis unavailable/)],
        checks: { redis: { status: 'down' }, database: { status: 'up' } },
      });
    }
    for (const socket of [onA, onB]) {
      expect(socket.connected).toBe(true);
      expect(await socket.emitWithAck('ping', {})).toEqual({ ok: true, data: { pong: expect.any(String) } });
    }
    expect([a.running, b.running]).toEqual([true, true]);

    const subscribersBack = [a, b].map((instance) =>
      instance.waitForLine(/Redis connection "adapter-sub" is back/, 15_000),
    );
    await server.restart();
    await Promise.all(subscribersBack);
    await pollUntil(
      () => adapterSubscribers(server),
      (count) => count === 2,
      {
        what: 'instances subscribed to the adapter channel',
        timeoutMs: COUNT_AGREEMENT_LIMIT_MS,
      },
    );
    for (const instance of [a, b]) {
      const health = await pollUntil(
        () => healthOf(instance),
        ({ body }) => body.status === 'ok',
        {
          what: `health of ${instance.serverId} once Redis is back`,
          timeoutMs: 10_000,
        },
      );
      expect(health.value.status).toBe(200);
      expect(health.value.body).toMatchObject({ status: 'ok', checks: { redis: { status: 'up' } } });
    }
    const recovered = await pollUntil(
      () => Promise.all([restCount(a), restCount(b)]),
      (counts) => counts.every((count) => count === 2),
      { what: 'the count on A and B once Redis is back', timeoutMs: HEARTBEAT_MS * 3, intervalMs: 50 },
    );
    timings.push(`count republished ${ms(recovered.elapsedMs)} after both instances were healthy again`);

    const notice = nextEvent<Envelope<{ sessionId: string }>>(onB, 'auth:revoked');
    const gone = timestamped(disconnected(onB));
    const response = await request(a.url).delete('/api/sessions/outage-session').set(bearer(adminToken));
    const respondedAt = performance.now();
    expect(response.status).toBe(200);
    expect((await notice).data.sessionId).toBe('outage-session');
    const disconnectDelay = (await gone).at - respondedAt;
    timings.push(
      `revocation after the Redis restart closed the socket on B ${ms(disconnectDelay)} after the DELETE`,
    );
    expect(disconnectDelay).toBeLessThan(REVOCATION_LIMIT_MS);
    expect(onA.connected).toBe(true);
  });

  it('on SIGTERM tells its clients to reconnect, closes them, exits 0 and leaves the global count', async () => {
    const leaving = await startInstance('node-leaving');
    const staying = open(a, signToken({ sub: 'staying' }));
    const goer = open(leaving, signToken({ sub: 'leaving' }));
    await Promise.all([connected(staying), connected(goer)]);
    await pollUntil(
      () => restCount(a),
      (count) => count === 2,
      {
        what: 'the count on A with the leaving instance',
        timeoutMs: COUNT_AGREEMENT_LIMIT_MS,
      },
    );
    const system = nextEvent<Envelope<{ message: string; level: string }>>(goer, 'system');
    const gone = disconnected(goer);

    expect(await leaving.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    expect(await system).toEqual({
      type: 'system',
      data: { message: expect.any(String), level: 'warning' },
      timestamp: expect.any(String),
    });
    // A dropped transport, unlike a server-side disconnect, makes socket.io-client reconnect by itself.
    expect(await gone).toBe('transport close');
    expect(await restCount(a)).toBe(1);
    expect(staying.connected).toBe(true);
  });
});

/** The `data` of a successful GET; any other status fails the calling test. */
async function getData<T>(instance: AppProcess, path: string, token = adminToken): Promise<T> {
  const response = await request(instance.url).get(path).set(bearer(token));
  if (response.status !== 200) {
    throw new Error(`GET ${path} on ${instance.serverId} answered ${response.status}`);
  }
  return (response.body as { data: T }).data;
}

function listSessions(instance: AppProcess): Promise<{ sessions: SessionView[]; totalCount: number }> {
  return getData(instance, '/api/sessions');
}

async function sessionsOfUser(instance: AppProcess, userId: string): Promise<SessionView[]> {
  return (
    await getData<{ sessions: SessionView[] }>(instance, '/api/sessions/me', signToken({ sub: userId }))
  ).sessions;
}

async function healthOf(instance: AppProcess): Promise<{ status: number; body: HealthBody }> {
  const response = await request(instance.url).get('/api/health');
  return { status: response.status, body: response.body as HealthBody };
}

async function adapterSubscribers(redis: TestRedis): Promise<number> {
  const connection = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await connection.connect();
    const [, subscribers] = (await connection.pubsub('NUMSUB', ADAPTER_REQUEST_CHANNEL)) as [string, number];
    return subscribers;
  } finally {
    connection.disconnect();
  }
}

/** Resolves when a pushed `sessions:count` carries `expected`. */
function countPush(socket: Socket, expected: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('sessions:count', onCount);
      reject(new Error(`No sessions:count push of ${expected} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onCount = (event: Envelope<{ activeSessionsCount: number }>) => {
      if (event.type !== 'sessions:count' || event.data.activeSessionsCount !== expected) return;
      clearTimeout(timer);
      socket.off('sessions:count', onCount);
      resolve();
    };
    socket.on('sessions:count', onCount);
  });
}

async function timestamped<T>(promise: Promise<T>): Promise<{ value: T; at: number }> {
  const value = await promise;
  return { value, at: performance.now() };
}
