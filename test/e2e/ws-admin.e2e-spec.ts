import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { AdminStats } from '../../src/admin/admin.events.js';
import type { PublishedEvent } from '../../src/notifications/notifications.events.js';
import { startApp, type RunningApp } from '../support/app.js';
import {
  closeClients,
  EventsClient,
  type EventsClientOptions,
  type Frame,
} from '../support/events-websocket-client.js';
import { signToken } from '../support/tokens.js';

const ADMIN_STATS_MS = 200;
const PATH = '/ws/admin';

type ErrorPayload = { code: string; message: string; details?: unknown };

/** The next frame `accept` takes, skipping the others (`stats` pushes come on their own clock). */
async function until<P>(
  client: EventsClient,
  accept: (frame: Frame) => boolean,
  limit = 200,
): Promise<Frame<P>> {
  for (let seen = 0; seen < limit; seen += 1) {
    const frame = await client.next();
    if (accept(frame)) return frame as Frame<P>;
  }
  throw new Error(`No matching frame among ${limit}`);
}

const ofType =
  (type: string) =>
  (frame: Frame): boolean =>
    frame.type === type;

function expectStatsShape(stats: AdminStats): void {
  expect(stats).toEqual({
    server: {
      serverId: expect.any(String),
      connections: expect.any(Number),
      uptimeS: expect.any(Number),
      rssBytes: expect.any(Number),
      heapUsedBytes: expect.any(Number),
      eventLoopLagMs: expect.any(Number),
    },
    global: {
      totalServers: 1,
      totalConnections: expect.any(Number),
      totalUsers: expect.any(Number),
      byNamespace: expect.any(Object),
    },
    servers: [expect.objectContaining({ serverId: stats.server.serverId })],
    rates: {
      eventsInPerS: expect.any(Number),
      eventsOutPerS: expect.any(Number),
      handshakesPerS: expect.any(Number),
      refusedHandshakesPerS: expect.any(Number),
    },
  });
}

describe('plain-WebSocket admin stream /ws/admin and GET /ws/health (e2e)', () => {
  let running: RunningApp;
  const clients: EventsClient[] = [];
  const adminToken = () => signToken({ sub: `root-${randomUUID()}`, roles: ['admin'] });
  const userToken = (userId = `user-${randomUUID()}`) => signToken({ sub: userId });
  const http = () => request(running.app.getHttpServer());

  const open = async (options: EventsClientOptions, path = PATH) => {
    const opened = await EventsClient.open(running.port, options, path);
    clients.push(opened.client);
    return opened;
  };

  beforeAll(async () => {
    running = await startApp({ RATE_LIMIT_HANDSHAKES_PER_MIN: '0', ADMIN_STATS_MS: String(ADMIN_STATS_MS) });
  });
  afterEach(() => closeClients(clients));
  afterAll(() => running.close());

  it('admits an admin: authenticated, then stats at once, in the /ws/events frame format', async () => {
    const { client, authenticated } = await open({ query: adminToken() });
    expect(authenticated).toEqual({
      userId: expect.stringMatching(/^root-/),
      sessionId: expect.any(String),
      connectionId: expect.any(String),
      roles: ['admin'],
      expiresAt: expect.any(String),
    });
    const first = await client.next<AdminStats>();
    expect(first.type).toBe('stats');
    expectStatsShape(first.payload);
    expect(first.payload.global.byNamespace[PATH]).toBe(1);
  });

  it(`pushes stats every ADMIN_STATS_MS (${ADMIN_STATS_MS} ms), following connections as they come`, async () => {
    const { client } = await open({ bearer: adminToken() });
    await client.next('stats');
    await open({ query: userToken() }, '/ws/events');
    const grown = await until<AdminStats>(
      client,
      (frame) =>
        frame.type === 'stats' && (frame.payload as AdminStats).global.byNamespace['/ws/events'] === 1,
    );
    expectStatsShape(grown.payload);
    const started = performance.now();
    await until(client, ofType('stats'));
    await until(client, ofType('stats'));
    expect(performance.now() - started).toBeLessThan(ADMIN_STATS_MS * 2 + 1000);
  });

  it('subscribes the connection to the admin stream with scope all', async () => {
    const { client } = await open({ query: adminToken() });
    client.send({ type: 'get_subscriptions' });
    expect(await until(client, ofType('subscriptions'))).toEqual({
      type: 'subscriptions',
      payload: { eventTypes: ['admin.*', 'security.*', 'session.*', 'system.*'], scope: 'all' },
    });
  });

  it("hears another user's session.created as an event frame", async () => {
    const { client } = await open({ query: adminToken() });
    await client.next('stats');
    const { authenticated } = await open({ query: userToken('carol') }, '/ws/events');
    const frame = await until<PublishedEvent>(
      client,
      (received) =>
        received.type === 'event' &&
        (received.payload as PublishedEvent).type === 'session.created' &&
        (received.payload as PublishedEvent).userId === 'carol',
    );
    expect(frame.payload).toEqual(
      expect.objectContaining({
        id: expect.any(String),
        type: 'session.created',
        userId: 'carol',
        sessionId: authenticated.sessionId,
        timestamp: expect.any(String),
      }),
    );
  });

  it('hears an admin action (a broadcast) as an admin.* event frame', async () => {
    const token = adminToken();
    const { client } = await open({ query: token });
    await client.next('stats');
    const response = await http()
      .post('/api/admin/broadcast')
      .set('Authorization', `Bearer ${token}`)
      .send({ level: 'info', message: 'Maintenance at noon' });
    expect(response.status).toBeLessThan(300);
    const frame = await until<PublishedEvent>(
      client,
      (received) =>
        received.type === 'event' && (received.payload as PublishedEvent).type === 'admin.broadcast',
    );
    expect(frame.payload.type).toBe('admin.broadcast');
  });

  it('answers ping with pong', async () => {
    const { client } = await open({ query: adminToken() });
    client.send({ type: 'ping' });
    const pong = await until<{ pong: string }>(client, ofType('pong'));
    expect(Date.parse(pong.payload.pong)).not.toBeNaN();
  });

  it.each([
    ['a frame type of /ws/events only', { type: 'subscribe', payload: { eventTypes: ['chat.*'] } }],
    ['an unknown frame type', { type: 'admin:stats' }],
    ['not JSON', 'not json'],
  ])('answers %s with an error frame, and the connection lives', async (_label, frame) => {
    const { client } = await open({ query: adminToken() });
    client.send(frame);
    const error = await until<ErrorPayload>(client, ofType('error'));
    expect(error.payload.code).toBe('VALIDATION_FAILED');
    if (typeof frame !== 'string') {
      expect(error.payload.message).toContain('expected one of ping, get_subscriptions');
    }
    client.send({ type: 'ping' });
    await until(client, ofType('pong'));
    expect(client.isOpen).toBe(true);
  });

  it('closes a plain user with 1008 FORBIDDEN after the upgrade, having sent nothing', async () => {
    const closed = await EventsClient.refusedAfterUpgrade(running.port, { query: userToken() }, PATH);
    expect(closed).toEqual({ code: 1008, reason: 'FORBIDDEN', frames: [] });
  });

  it('closes a connection without a token with 1008 AUTH_MISSING', async () => {
    const closed = await EventsClient.refusedAfterUpgrade(running.port, {}, PATH);
    expect(closed).toEqual({ code: 1008, reason: 'AUTH_MISSING', frames: [] });
  });

  it('GET /ws/health answers exactly as GET /api/health, without a token', async () => {
    const [api, ws] = await Promise.all([http().get('/api/health'), http().get('/ws/health')]);
    expect(ws.status).toBe(api.status);
    expect(ws.status).toBe(200);
    expect(Object.keys(ws.body as object).sort()).toEqual(Object.keys(api.body as object).sort());
    const [apiBody, wsBody] = [api.body as Record<string, unknown>, ws.body as Record<string, unknown>];
    expect(wsBody.status).toBe(apiBody.status);
    expect(wsBody.serverId).toBe(apiBody.serverId);
    expect(Object.keys(wsBody.checks as object).sort()).toEqual(Object.keys(apiBody.checks as object).sort());
    expect(ws.headers['cache-control']).toBe('no-store');
  });
});
