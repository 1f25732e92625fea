import { Redis } from 'ioredis';
import request from 'supertest';
import { startApp, type RunningApp } from '../support/app.js';
import { describeWithRedis, startRedis, type TestRedis } from '../support/redis-server.js';
import { signToken } from '../support/tokens.js';

/** Behind one trusted proxy the client is the right-most `X-Forwarded-For` entry. */
const BEHIND_ONE_PROXY = { TRUST_PROXY: '1' };
/** Any route that needs a token; it answers 200 with one and 401 without. */
const AUTHENTICATED_ROUTE = '/api/sessions/count';
const WINDOW_S = 60;

const bearer = (userId: string) => ({ Authorization: `Bearer ${signToken({ sub: userId })}` });
const from = (...forwardedFor: string[]) => ({ 'X-Forwarded-For': forwardedFor.join(', ') });

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: unknown;
}

function get(running: RunningApp, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return request(running.app.getHttpServer())
    .get(path)
    .set(headers)
    .then(({ status, headers: received, body }) => ({
      status,
      headers: received,
      body: body as unknown,
    }));
}

/** Sends `count` requests, `concurrency` at a time, and tallies their statuses. */
async function tally(
  count: number,
  send: () => Promise<Answer>,
  concurrency = 20,
): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {};
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started += 1;
      const { status } = await send();
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

function expectRateLimited(answer: Answer): void {
  expect(answer.status).toBe(429);
  expect(answer.body).toEqual({
    statusCode: 429,
    error: 'Too Many Requests',
    code: 'RATE_LIMITED',
    message: expect.stringMatching(/^Too many requests .*; retry in \d+ s$/),
  });
  const retryAfter = answer.headers['retry-after'];
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(retryAfter)).toBeLessThanOrEqual(WINDOW_S);
}

describe('REST rate limit per client address (security)', () => {
  const PER_ADDRESS = 5;
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({
      ...BEHIND_ONE_PROXY,
      RATE_LIMIT_REST_PER_IP_PER_MIN: String(PER_ADDRESS),
      RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
    });
  });
  afterAll(() => running.close());

  it('counts requests before authentication and answers 429 with Retry-After past the allowance', async () => {
    const address = from('203.0.113.1');
    for (let i = 0; i < PER_ADDRESS; i++) {
      expect((await get(running, AUTHENTICATED_ROUTE, address)).status).toBe(401);
    }

    const refused = await get(running, AUTHENTICATED_ROUTE, address);
    const withToken = await get(running, AUTHENTICATED_ROUTE, { ...address, ...bearer('alice') });
    const health = await get(running, '/api/health', address);

    for (const answer of [refused, withToken, health]) expectRateLimited(answer);
  });

  it('counts each client address on its own, taking the right-most X-Forwarded-For entry', async () => {
    const spent = '203.0.113.2';
    for (let i = 0; i < PER_ADDRESS; i++) {
      expect((await get(running, AUTHENTICATED_ROUTE, from(spent))).status).toBe(401);
    }
    expectRateLimited(await get(running, AUTHENTICATED_ROUTE, from(spent)));

    const other = await get(running, AUTHENTICATED_ROUTE, { ...from('203.0.113.3'), ...bearer('alice') });
    // A client cannot pick its address by prepending entries: only the proxy's own counts.
    const spoofed = await get(running, AUTHENTICATED_ROUTE, from('198.51.100.9', spent));
    const relayed = await get(running, AUTHENTICATED_ROUTE, {
      ...from(spent, '203.0.113.4'),
      ...bearer('alice'),
    });

    expect(other.status).toBe(200);
    expectRateLimited(spoofed);
    expect(relayed.status).toBe(200);
  });
});

describe('REST rate limit per user (security)', () => {
  const PER_USER = 3;
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({
      ...BEHIND_ONE_PROXY,
      RATE_LIMIT_REST_PER_IP_PER_MIN: '1000',
      RATE_LIMIT_REST_PER_USER_PER_MIN: String(PER_USER),
    });
  });
  afterAll(() => running.close());

  it('counts a user across addresses, and each user on their own', async () => {
    for (let i = 0; i < PER_USER; i++) {
      const answer = await get(running, AUTHENTICATED_ROUTE, {
        ...from(`192.0.2.${i + 1}`),
        ...bearer('carol'),
      });
      expect(answer.status).toBe(200);
    }

    const fromNewAddress = await get(running, AUTHENTICATED_ROUTE, {
      ...from('192.0.2.200'),
      ...bearer('carol'),
    });
    const otherUser = await get(running, AUTHENTICATED_ROUTE, { ...from('192.0.2.1'), ...bearer('dave') });

    expectRateLimited(fromNewAddress);
    expect(otherUser.status).toBe(200);
  });

  it('does not count public routes or requests without a valid token against a user', async () => {
    const address = from('192.0.2.50');
    for (let i = 0; i < PER_USER + 2; i++) {
      expect((await get(running, '/api/health', { ...address, ...bearer('erin') })).status).toBe(200);
      expect((await get(running, AUTHENTICATED_ROUTE, address)).status).toBe(401);
    }

    expect((await get(running, AUTHENTICATED_ROUTE, { ...address, ...bearer('erin') })).status).toBe(200);
  });
});

describe('REST rate limits set to 0 (security)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({
      RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
      RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
    });
  });
  afterAll(() => running.close());

  it('refuses nothing, however many requests one user sends from one address', async () => {
    // More than either default allowance (1200 per address, 600 per user) in one minute.
    const statuses = await tally(1201, () => get(running, AUTHENTICATED_ROUTE, bearer('frank')));

    expect(statuses).toEqual({ 200: 1201 });
  });
});

describe('security headers (security)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it.each([
    ['a public route', 200, () => get(running, '/api/health')],
    ['a refused request', 401, () => get(running, AUTHENTICATED_ROUTE)],
    ['an unknown route', 404, () => get(running, '/nowhere')],
    [
      'a body the parser refuses',
      400,
      () =>
        request(running.app.getHttpServer())
          .post('/api/chats')
          .set(bearer('grace'))
          .set('Content-Type', 'application/json')
          .send('{"participantIds": [')
          .then(({ status, headers }) => ({
            status,
            headers: headers,
            body: undefined,
          })),
    ],
  ])('sends helmet headers and no X-Powered-By on %s', async (_case, expectedStatus, send) => {
    const { status, headers } = await send();

    expect(status).toBe(expectedStatus);
    expect(headers['x-powered-by']).toBeUndefined();
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(headers['referrer-policy']).toBe('no-referrer');
    const policy = Object.fromEntries(
      (headers['content-security-policy'] ?? '')
        .split(';')
        .map((directive) => directive.trim().split(/\s+/))
        .map(([name, ...values]) => [name, values.join(' ')]),
    );
    expect(policy).toMatchObject({
      'default-src': "'self'",
      'script-src': "'self'",
      'script-src-attr': "'none'",
      'style-src': "'self' 'unsafe-inline'",
      'object-src': "'none'",
      'frame-ancestors': "'self'",
    });
    expect(policy).not.toHaveProperty('upgrade-insecure-requests');
  });
});

describeWithRedis('REST rate limits shared through Redis (security)', () => {
  const KEY_PREFIX = `rest-limits-${process.pid}:`;
  const PER_ADDRESS = 4;
  const PER_USER = 3;
  let redis: TestRedis | undefined;
  let inspector: Redis | undefined;
  const instances: RunningApp[] = [];

  function bothInstances(): [RunningApp, RunningApp] {
    const [a, b] = instances;
    if (!a || !b) throw new Error('Both instances should have started in beforeAll');
    return [a, b];
  }

  beforeAll(async () => {
    redis = await startRedis();
    inspector = new Redis(redis.url);
    for (const serverId of ['limits-a', 'limits-b']) {
      instances.push(
        await startApp({
          ...BEHIND_ONE_PROXY,
          SERVER_ID: serverId,
          REDIS_URL: redis.url,
          REDIS_KEY_PREFIX: KEY_PREFIX,
          RATE_LIMIT_REST_PER_IP_PER_MIN: String(PER_ADDRESS),
          RATE_LIMIT_REST_PER_USER_PER_MIN: String(PER_USER),
        }),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    inspector?.disconnect();
    await redis?.stop();
  });

  it('counts an address once across instances', async () => {
    const [a, b] = bothInstances();
    const address = from('198.51.100.1');
    for (const instance of [a, b, a, b]) {
      expect((await get(instance, AUTHENTICATED_ROUTE, address)).status).toBe(401);
    }

    expectRateLimited(await get(a, AUTHENTICATED_ROUTE, address));
    expectRateLimited(await get(b, AUTHENTICATED_ROUTE, address));
    expect(await inspector!.exists(`${KEY_PREFIX}ratelimit:rest-ip:198.51.100.1`)).toBe(1);
  });

  it('counts a user once across instances', async () => {
    const [a, b] = bothInstances();
    for (const [i, instance] of [a, b, a].entries()) {
      const answer = await get(instance, AUTHENTICATED_ROUTE, {
        ...from(`198.51.100.${10 + i}`),
        ...bearer('heidi'),
      });
      expect(answer.status).toBe(200);
    }

    expectRateLimited(await get(b, AUTHENTICATED_ROUTE, { ...from('198.51.100.20'), ...bearer('heidi') }));
    expect(await inspector!.exists(`${KEY_PREFIX}ratelimit:rest-user:heidi`)).toBe(1);
  });
});
