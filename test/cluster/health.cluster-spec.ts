import { Redis } from 'ioredis';
import request from 'supertest';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { pollUntil } from '../support/polling.js';
import { describeWithPostgres, startPostgres, type TestPostgres } from '../support/postgres.js';
import { describeWithRedis, startRedis, type TestRedis } from '../support/redis-server.js';

interface ConnectionBody {
  name: string;
  state: string;
  error?: string;
}

interface HealthBody {
  status: string;
  serverId: string;
  reasons?: string[];
  checks: {
    redis: { status: string; error?: string; connections?: ConnectionBody[] };
    database: { status: string; error?: string };
  };
}

interface Probe {
  status: number;
  body: HealthBody;
}

const REDIS_CONNECTIONS = ['adapter-pub', 'adapter-sub', 'commands'];
/** Reconnection backs off to 2 s; a probe after an outage or a restart settles well within this. */
const SETTLE_MS = 10_000;
/** Far above what any test here opens, as Redis's own default. */
const DEFAULT_MAX_CLIENTS = 10_000;
/** Waiting out a reconnection back-off takes hundreds of probes: no per-address REST limit. */
const PROBE_ENV = { RATE_LIMIT_REST_PER_IP_PER_MIN: '0' };
/** Recoveries wait out a reconnection back-off; probing every few milliseconds sees them as soon. */
const PROBE_INTERVAL_MS = 20;

async function probe(instance: AppProcess, path = '/api/health/ready'): Promise<Probe> {
  const response = await request(instance.url).get(path);
  return { status: response.status, body: response.body as HealthBody };
}

/** Readiness once it has left `ok` (or has come back to it), for the test to judge. */
async function readinessOnceIt(instance: AppProcess, change: 'leaves ok' | 'is ok'): Promise<Probe> {
  const { value } = await pollUntil(
    () => probe(instance),
    ({ body }) => (body.status === 'ok') === (change === 'is ok'),
    {
      what: `readiness of ${instance.serverId} until it ${change}`,
      timeoutMs: SETTLE_MS,
      intervalMs: PROBE_INTERVAL_MS,
    },
  );
  return value;
}

function connectionsOf(body: HealthBody): Record<string, string> {
  return Object.fromEntries((body.checks.redis.connections ?? []).map(({ name, state }) => [name, state]));
}

describeWithRedis('health with a real Redis', () => {
  let redis: TestRedis | undefined;
  let app: AppProcess | undefined;
  let admin: Redis | undefined;

  const instance = () => {
    if (!app) throw new Error('The app is not started');
    return app;
  };
  const adminConnection = () => {
    if (!admin) throw new Error('Redis is not started');
    return admin;
  };

  beforeAll(async () => {
    redis = await startRedis();
    app = await startAppProcess({ serverId: 'health-redis', redisUrl: redis.url, env: PROBE_ENV });
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  });

  afterEach(async () => {
    if (redis && !redis.running) await redis.restart();
    await admin?.config('SET', 'maxclients', String(DEFAULT_MAX_CLIENTS));
    if (app?.running) await readinessOnceIt(app, 'is ok');
  });

  afterAll(async () => {
    admin?.disconnect();
    await app?.stop();
    await redis?.stop();
  });

  it('is ok with the command connection and the adapter’s publisher and subscriber all ready', async () => {
    for (const path of ['/api/health/ready', '/api/health']) {
      const { status, body } = await probe(instance(), path);
      expect(status).toBe(200);
      expect(body).toMatchObject({ status: 'ok', checks: { redis: { status: 'up' } } });
      expect(body.reasons).toBeUndefined();
      expect(connectionsOf(body)).toEqual(
        Object.fromEntries(REDIS_CONNECTIONS.map((name) => [name, 'ready'])),
      );
    }
  });

  it('stays in rotation, degraded with the reason, while Redis is down, and is ok once it is back', async () => {
    const server = redis;
    if (!server) throw new Error('Redis is not started');
    await server.kill();

    const during = await readinessOnceIt(instance(), 'leaves ok');
    expect(during.status).toBe(200);
    expect(during.body).toMatchObject({
      status: 'degraded',
      serverId: 'health-redis',
      reasons: [expect.stringMatching(/^redis unavailable/)],
      checks: { redis: { status: 'down', error: expect.any(String) }, database: { status: 'up' } },
    });

    // Each connection notices the outage on its own; once all have, each is named with its state.
    const cutOff = await pollUntil(
      () => probe(instance()),
      ({ body }) => Object.values(connectionsOf(body)).every((state) => state !== 'ready'),
      {
        what: 'every Redis connection of the app to notice the outage',
        timeoutMs: SETTLE_MS,
        intervalMs: PROBE_INTERVAL_MS,
      },
    );
    expect(cutOff.value.status).toBe(200);
    expect(Object.keys(connectionsOf(cutOff.value.body)).sort()).toEqual(REDIS_CONNECTIONS);
    for (const name of REDIS_CONNECTIONS) {
      expect(cutOff.value.body.reasons?.[0]).toContain(`connection "${name}" is `);
    }
    const health = await probe(instance(), '/api/health');
    expect([health.status, health.body.status]).toEqual([200, 'degraded']);
    const live = await probe(instance(), '/api/health/live');
    expect([live.status, live.body.status]).toEqual([200, 'ok']);

    await server.restart();
    const after = await readinessOnceIt(instance(), 'is ok');
    expect(after.status).toBe(200);
    expect(after.body.reasons).toBeUndefined();
    expect(after.body.checks.redis.status).toBe('up');
    expect(Object.values(connectionsOf(after.body))).toEqual(REDIS_CONNECTIONS.map(() => 'ready'));
  });

  it.each(['adapter-pub', 'adapter-sub'])(
    'is degraded while only the adapter’s %s connection is cut off, Redis answering commands',
    async (name) => {
      const redisAdmin = adminConnection();
      const clients = (await redisAdmin.client('LIST')) as string;
      const lines = clients.split('\n').filter(Boolean);
      const target = lines.find((line) => line.includes(` name=switchboard:${name} `));
      const id = target?.match(/^id=(\d+) /)?.[1];
      if (id === undefined) throw new Error(`No connection named switchboard:${name} in\n${clients}`);
      // Every connection open now may stay; the one killed below cannot come back.
      await redisAdmin.config('SET', 'maxclients', String(lines.length - 1));
      await redisAdmin.client('KILL', 'ID', id);

      const during = await readinessOnceIt(instance(), 'leaves ok');
      expect(during.status).toBe(200);
      expect(during.body.status).toBe('degraded');
      expect(during.body.reasons).toEqual([expect.stringContaining(`connection "${name}" is `)]);
      expect(during.body.checks.redis.status).toBe('down');
      expect(connectionsOf(during.body)).toMatchObject({ commands: 'ready', [name]: expect.any(String) });
      expect(connectionsOf(during.body)[name]).not.toBe('ready');

      await redisAdmin.config('SET', 'maxclients', String(DEFAULT_MAX_CLIENTS));
      const after = await readinessOnceIt(instance(), 'is ok');
      expect(after.status).toBe(200);
      expect(connectionsOf(after.body)[name]).toBe('ready');
    },
  );
});

describeWithPostgres('health with a real PostgreSQL', () => {
  let postgres: TestPostgres | undefined;
  let app: AppProcess | undefined;

  beforeAll(async () => {
    postgres = await startPostgres();
    app = await startAppProcess({
      serverId: 'health-postgres',
      env: { ...PROBE_ENV, DATABASE_URL: postgres.connectionString },
    });
  });

  afterAll(async () => {
    await app?.stop();
    await postgres?.stop();
  });

  it('is ok, leaves rotation (503 down) while PostgreSQL is stopped, and is ok once it is back', async () => {
    const server = postgres;
    const instance = app;
    if (!server || !instance) throw new Error('PostgreSQL or the app is not started');

    const before = await probe(instance);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ status: 'ok', checks: { database: { status: 'up' } } });

    await server.halt();
    const during = await readinessOnceIt(instance, 'leaves ok');
    expect(during.status).toBe(503);
    expect(during.body).toMatchObject({
      status: 'down',
      serverId: 'health-postgres',
      reasons: [expect.stringMatching(/^database unreachable: .+/)],
      checks: { database: { status: 'down', error: expect.any(String) }, redis: { status: 'disabled' } },
    });
    expect((await probe(instance, '/api/health')).status).toBe(503);
    const live = await probe(instance, '/api/health/live');
    expect([live.status, live.body.status]).toEqual([200, 'ok']);

    await server.resume();
    const after = await readinessOnceIt(instance, 'is ok');
    expect(after.status).toBe(200);
    expect(after.body.checks.database.status).toBe('up');
  });
});
