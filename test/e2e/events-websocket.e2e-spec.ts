import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { io as ioClient } from 'socket.io-client';
import type { PublishedEvent } from '../../src/notifications/notifications.events.js';
import { LiveDelivery } from '../../src/notifications/live-delivery.js';
import { EventsWebSocketDoor } from '../../src/notifications/events-websocket.door.js';
import { DeliveryGaps } from '../../src/realtime/delivery-gaps.js';
import type { ApiResponse } from '../../src/common/http-response.js';
import type { SessionsListResult } from '../../src/contracts/index.js';
import { startApp, type RunningApp } from '../support/app.js';
import { connected, refused } from '../support/clients.js';
import {
  closeClients,
  EventsClient,
  type EventsClientOptions,
  type Frame,
} from '../support/events-websocket-client.js';
import { pollUntil } from '../support/polling.js';
import { TestClock } from '../support/test-clock.js';
import { signToken, signTokenAt } from '../support/tokens.js';

type ErrorPayload = { code: string; message: string; details?: unknown };

function event(type: string, fields: Partial<PublishedEvent> = {}): PublishedEvent {
  return { id: randomUUID(), type, data: { n: 1 }, timestamp: new Date().toISOString(), ...fields };
}

describe('plain-WebSocket door /ws/events (e2e)', () => {
  let running: RunningApp;
  const clock = new TestClock();
  const clients: EventsClient[] = [];
  const admin = signToken({ sub: 'root', roles: ['admin'] });
  const http = () => request(running.app.getHttpServer());
  const live = () => running.app.get(LiveDelivery);

  const open = async (options: EventsClientOptions) => {
    const opened = await EventsClient.open(running.port, options);
    clients.push(opened.client);
    return opened;
  };
  const subscribed = async (options: EventsClientOptions, eventTypes: string[], scope?: string) => {
    const opened = await open(options);
    const answer = await opened.client.request('subscribe', scope ? { eventTypes, scope } : { eventTypes });
    expect(answer.type).toBe('subscribed');
    return opened;
  };

  beforeAll(async () => {
    running = await startApp({ RATE_LIMIT_HANDSHAKES_PER_MIN: '0' }, { clock });
  });
  afterEach(() => closeClients(clients));
  afterAll(() => running.close());

  describe('happy path', () => {
    it.each([
      ['?token=', (token: string): EventsClientOptions => ({ query: token })],
      ['Authorization: Bearer', (token: string): EventsClientOptions => ({ bearer: token })],
      ['the authToken cookie', (token: string): EventsClientOptions => ({ cookie: token })],
    ])('admits a token sent as %s and delivers own and broadcast events only', async (_carrier, carry) => {
      const { client, authenticated } = await open(
        carry(signToken({ sub: 'alice', sid: `s-${randomUUID()}` })),
      );
      expect(authenticated).toEqual({
        userId: 'alice',
        sessionId: expect.stringMatching(/^s-/),
        connectionId: expect.any(String),
        roles: [],
        expiresAt: expect.any(String),
      });
      expect(await client.request('subscribe', { eventTypes: ['security.*'] })).toEqual({
        type: 'subscribed',
        payload: { eventTypes: ['security.*'], scope: 'own' },
      });
      const own = event('security.suspicious_activity', { userId: 'alice' });
      const others = event('security.suspicious_activity', { userId: 'bob' });
      const broadcast = event('security.rate_limit.exceeded');
      const unmatched = event('session.created', { userId: 'alice' });
      live().publishEvent(own, { userId: 'alice' });
      live().publishEvent(others, { userId: 'bob' });
      live().publishEvent(broadcast, 'broadcast');
      live().publishEvent(unmatched, { userId: 'alice' });
      live().publishEvent(event('security.origin.refused'), 'admins');
      expect(await client.untilPong()).toEqual([
        { type: 'event', payload: own },
        { type: 'event', payload: broadcast },
      ]);
    });

    it("lets an admin follow everyone's events with scope 'all'", async () => {
      const { client } = await subscribed({ query: admin }, ['security.*'], 'all');
      const others = event('security.suspicious_activity', { userId: 'bob' });
      const system = event('security.origin.refused');
      live().publishEvent(others, { userId: 'bob' });
      live().publishEvent(system, 'admins');
      expect(await client.untilPong()).toEqual([
        { type: 'event', payload: others },
        { type: 'event', payload: system },
      ]);
      expect(await client.request('get_subscriptions')).toEqual({
        type: 'subscriptions',
        payload: { eventTypes: ['security.*'], scope: 'all' },
      });
    });

    it("refuses scope 'all' to a plain user with FORBIDDEN; the connection lives", async () => {
      const { client } = await open({ query: signToken({ sub: 'alice' }) });
      const answer = await client.request<ErrorPayload>('subscribe', { eventTypes: ['*'], scope: 'all' });
      expect(answer).toEqual({ type: 'error', payload: { code: 'FORBIDDEN', message: expect.any(String) } });
      expect(await client.request('get_subscriptions')).toEqual({
        type: 'subscriptions',
        payload: { eventTypes: [], scope: 'own' },
      });
    });

    it('unsubscribes, lists subscriptions and answers ping with the server time', async () => {
      const { client } = await subscribed({ query: signToken({ sub: 'alice' }) }, [
        'security.*',
        'session.*',
      ]);
      expect(await client.request('unsubscribe', { eventTypes: ['security.*'] })).toEqual({
        type: 'unsubscribed',
        payload: { eventTypes: ['session.*'], scope: 'own' },
      });
      expect(await client.request('get_subscriptions')).toEqual({
        type: 'subscriptions',
        payload: { eventTypes: ['session.*'], scope: 'own' },
      });
      const pong = await client.request<{ pong: string }>('ping');
      expect(pong.type).toBe('pong');
      expect(Math.abs(Date.parse(pong.payload.pong) - Date.now())).toBeLessThan(5000);
      live().publishEvent(event('security.suspicious_activity', { userId: 'alice' }), { userId: 'alice' });
      expect(await client.untilPong()).toEqual([]);
    });

    it("removes a closed connection's subscriptions from the router", async () => {
      const probe = event('door.removal.probe');
      const before = live().events.route(probe, 'broadcast');
      const { client } = await subscribed({ query: signToken({ sub: 'alice' }) }, ['door.removal.*']);
      expect(live().events.route(probe, 'broadcast')).toBe(before + 1);
      expect(await client.untilPong()).toEqual([{ type: 'event', payload: probe }]);
      await client.close();
      await pollUntil(
        () => Promise.resolve(live().events.route(probe, 'broadcast')),
        (count) => count === before,
        { what: 'subscribers after the close', timeoutMs: 5000 },
      );
    });

    it('delivers notifications, messages, read state and sync:required as frames', async () => {
      const { client } = await open({ query: signToken({ sub: 'carol' }) });
      const { client: other } = await open({ query: signToken({ sub: 'dave' }) });
      const notification = {
        id: 41,
        userId: 'carol',
        title: 'Hello',
        body: 'World',
        level: 'info' as const,
        data: null,
        timestamp: new Date().toISOString(),
        read: false,
      };
      const everyone = { ...notification, id: 42, userId: undefined };
      live().deliverNotifications([notification, everyone]);
      const message = { type: 'order.shipped', data: { order: 7 }, timestamp: new Date().toISOString() };
      live().sendMessage(message, ['carol']);
      live().tellReadState('carol', { id: 41 });
      live().tellReadState('carol', { readAll: 3 });
      // Broadcast notifications go out before addressed ones (LiveDelivery).
      expect(await client.untilPong()).toEqual([
        { type: 'notification', payload: JSON.parse(JSON.stringify(everyone)) as unknown },
        { type: 'notification', payload: notification },
        { type: 'message', payload: message },
        { type: 'notification:read', payload: { id: 41 } },
        { type: 'notifications:read-all', payload: { read: 3 } },
      ]);
      expect(await other.untilPong()).toEqual([
        { type: 'notification', payload: JSON.parse(JSON.stringify(everyone)) as unknown },
      ]);

      const since = new Date(Date.now() - 1000);
      running.app.get(DeliveryGaps).report({ reason: 'subscription_interrupted', since });
      const sync = await client.next<{ reason: string; since: string; syncAfterMs: number }>('sync:required');
      expect(sync.payload).toEqual({
        reason: 'subscription_interrupted',
        since: since.toISOString(),
        syncAfterMs: expect.any(Number),
      });
    });
  });

  describe('refused tokens close with 1008 and the code as reason', () => {
    it.each([
      ['no token', (): EventsClientOptions => ({}), 'AUTH_MISSING'],
      ['garbage', (): EventsClientOptions => ({ query: 'not-a-jwt' }), 'AUTH_INVALID'],
      [
        'a bad signature',
        (): EventsClientOptions => ({
          bearer: jwt.sign({ sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 60 }, 'wrong-secret'),
        }),
        'AUTH_INVALID',
      ],
      [
        'an expired token',
        (): EventsClientOptions => ({ cookie: signToken({ sub: 'mallory' }, -10) }),
        'AUTH_EXPIRED',
      ],
    ])('refuses %s', async (_case, options, code) => {
      const closed = await EventsClient.refusedAfterUpgrade(running.port, options());
      expect(closed).toEqual({ code: 1008, reason: code, frames: [] });
    });

    it('refuses a token of a revoked session, and the revocation closes a live connection', async () => {
      const token = signToken({ sub: 'mallory', sid: `s-${randomUUID()}` });
      const { client, authenticated } = await open({ query: token });
      const response = await http()
        .delete(`/api/sessions/${authenticated.sessionId}`)
        .set('Authorization', `Bearer ${token}`);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ data: { sessionId: authenticated.sessionId, disconnected: 1 } });
      expect(await client.next('auth:revoked')).toEqual({
        type: 'auth:revoked',
        payload: { reason: 'revoked', sessionId: authenticated.sessionId },
      });
      expect(await client.closed).toEqual({ code: 1008, reason: 'AUTH_REVOKED' });
      for (const options of [{ query: token }, { bearer: token }, { cookie: token }]) {
        expect(await EventsClient.refusedAfterUpgrade(running.port, options)).toEqual({
          code: 1008,
          reason: 'AUTH_REVOKED',
          frames: [],
        });
      }
    });
  });

  describe('the registry', () => {
    const count = async () =>
      (
        (await http().get('/api/sessions/count').set('Authorization', `Bearer ${admin}`))
          .body as ApiResponse<{
          activeSessionsCount: number;
        }>
      ).data.activeSessionsCount;

    it('counts and lists the connection on /ws/events, and an admin DELETE closes it', async () => {
      const before = await count();
      const { client, authenticated } = await open({ query: signToken({ sub: 'erin', sid: 'erin-ws' }) });
      await pollUntil(count, (value) => value === before + 1, { what: 'the count', timeoutMs: 5000 });
      const listed = await http().get('/api/sessions?userId=erin').set('Authorization', `Bearer ${admin}`);
      expect(listed.status).toBe(200);
      expect((listed.body as ApiResponse<SessionsListResult>).data.sessions).toEqual([
        expect.objectContaining({
          id: 'erin-ws',
          userId: 'erin',
          connectionId: authenticated.connectionId,
          namespaces: ['/ws/events'],
        }),
      ]);
      await pollUntil(
        async () =>
          (
            (await http().get('/api/presence/erin').set('Authorization', `Bearer ${admin}`))
              .body as ApiResponse<{
              online: boolean;
            }>
          ).data.online,
        (online) => online,
        { what: 'erin online', timeoutMs: 5000 },
      );

      const kicked = await http().delete('/api/sessions/erin-ws').set('Authorization', `Bearer ${admin}`);
      expect(kicked.body).toMatchObject({ data: { sessionId: 'erin-ws', disconnected: 1 } });
      expect(await client.next('auth:revoked')).toMatchObject({ payload: { sessionId: 'erin-ws' } });
      expect(await client.closed).toEqual({ code: 1008, reason: 'AUTH_REVOKED' });
      await pollUntil(count, (value) => value === before, { what: 'the count', timeoutMs: 5000 });
    });

    it('drops a peer that stops answering protocol pings', async () => {
      const outcome = await EventsClient.connect(running.port, {
        query: signToken({ sub: 'frank' }),
        autoPong: false,
      });
      if (outcome.kind !== 'open') throw new Error(JSON.stringify(outcome));
      clients.push(outcome.client);
      expect((await outcome.client.next()).type).toBe('authenticated');
      const door = running.app.get(EventsWebSocketDoor);
      door.checkPeers();
      door.checkPeers();
      expect((await outcome.client.closed).code).toBe(1006);

      // A peer that answers stays.
      const { client } = await open({ query: signToken({ sub: 'frank' }) });
      const pong = new Promise((resolve) => client.ws.once('ping', resolve));
      door.checkPeers();
      await pong;
      expect(await client.untilPong()).toEqual([]);
      door.checkPeers();
      expect(await client.untilPong()).toEqual([]);
      expect(client.isOpen).toBe(true);
    });
  });

  describe('other upgrade paths', () => {
    it('refuses an upgrade to a path nobody serves instead of leaving it hanging', async () => {
      const outcome = await EventsClient.connect(running.port, { query: signToken() }, '/nope');
      expect(outcome).toMatchObject({ kind: 'refused', status: 404 });
    });

    it('leaves Socket.IO upgrades to Engine.IO', async () => {
      const socket = ioClient(`${running.url}/`, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token: signToken({ sub: 'henry' }) },
      });
      try {
        await connected(socket);
      } finally {
        socket.close();
      }
    });
  });

  // Last: these set the app's clock forward, past the tokens of the system time.
  describe('token expiry', () => {
    it('sends auth:expired and closes with 1008 AUTH_EXPIRED when the token expires', async () => {
      const { client, authenticated } = await open({ query: signTokenAt(clock, { sub: 'gina' }, 60) });
      clock.advance(Date.parse(authenticated.expiresAt) - clock.now());
      expect(await client.next('auth:expired')).toEqual({
        type: 'auth:expired',
        payload: { reason: 'token expired', expiredAt: authenticated.expiresAt },
      });
      expect(await client.closed).toEqual({ code: 1008, reason: 'AUTH_EXPIRED' });
    });

    it('auth:refresh moves the expiry; a token of another user or session is FORBIDDEN', async () => {
      const { client, authenticated } = await open({ query: signTokenAt(clock, { sub: 'gina' }, 60) });
      const longer = signTokenAt(clock, { sub: 'gina' }, 3600);
      const refreshed = await client.request<{ expiresAt: string }>('auth:refresh', { token: longer });
      expect(refreshed.type).toBe('auth:refreshed');
      expect(Date.parse(refreshed.payload.expiresAt)).toBeGreaterThan(
        Date.parse(authenticated.expiresAt) + 3000 * 1000,
      );

      const otherUser = await client.request<ErrorPayload>('auth:refresh', {
        token: signTokenAt(clock, { sub: 'mallory' }, 3600),
      });
      expect(otherUser).toEqual({
        type: 'error',
        payload: { code: 'FORBIDDEN', message: expect.any(String) },
      });
      const otherSession = await client.request<ErrorPayload>('auth:refresh', {
        token: signTokenAt(clock, { sub: 'gina', sid: 'elsewhere' }, 3600),
      });
      expect(otherSession.payload.code).toBe('FORBIDDEN');
      const forged = await client.request<ErrorPayload>('auth:refresh', { token: 'not-a-jwt' });
      expect(forged.payload).toEqual({
        code: 'UNAUTHORIZED',
        message: expect.any(String),
        details: { code: 'AUTH_INVALID' },
      });
      const malformed = await client.request<ErrorPayload>('auth:refresh', { token: 7 });
      expect(malformed.payload.code).toBe('VALIDATION_FAILED');

      clock.advance(Date.parse(authenticated.expiresAt) - clock.now() + 60_000);
      expect(await client.untilPong()).toEqual([]);
      expect(client.isOpen).toBe(true);
      const listed = await http().get('/api/sessions?userId=gina').set('Authorization', `Bearer ${admin}`);
      expect((listed.body as ApiResponse<SessionsListResult>).data.sessions).toEqual([
        expect.objectContaining({ expiresAt: refreshed.payload.expiresAt, namespaces: ['/ws/events'] }),
      ]);
    });
  });
});

describe('plain-WebSocket door limits (e2e)', () => {
  const running: RunningApp[] = [];
  const clients: EventsClient[] = [];
  const start = async (env: Record<string, string>) => {
    const app = await startApp({ RATE_LIMIT_HANDSHAKES_PER_MIN: '0', ...env });
    running.push(app);
    return app;
  };
  const open = async (app: RunningApp, options: EventsClientOptions) => {
    const opened = await EventsClient.open(app.port, options);
    clients.push(opened.client);
    return opened;
  };

  afterEach(async () => {
    await closeClients(clients);
    await Promise.all(running.splice(0).map((app) => app.close()));
  });

  it('closes with 1009 on a frame over MAX_PAYLOAD_BYTES', async () => {
    const app = await start({ MAX_PAYLOAD_BYTES: '2048' });
    const { client } = await open(app, { query: signToken() });
    expect(await client.request('subscribe', { eventTypes: ['a'.repeat(64)] })).toMatchObject({
      type: 'subscribed',
    });
    client.send({ type: 'ping', payload: 'x'.repeat(2048) });
    expect((await client.closed).code).toBe(1009);
  });

  it('answers frames over the rate with error frames, and closes a sustained flood with 1008', async () => {
    const app = await start({ RATE_LIMIT_EVENTS_PER_S: '5', RATE_LIMIT_FLOOD_SECONDS: '1' });
    const { client } = await open(app, { query: signToken({ sub: 'mallory' }) });
    for (let sent = 0; sent < 20; sent += 1) client.send({ type: 'ping' });
    const closed = await client.closed;
    expect(closed).toEqual({ code: 1008, reason: 'RATE_LIMITED' });
    const frames = client.received();
    const pongs = frames.filter((frame) => frame.type === 'pong').length;
    expect(pongs).toBeGreaterThanOrEqual(1);
    expect(pongs).toBeLessThanOrEqual(5);
    const errors = frames.filter((frame) => frame.type === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(1);
    for (const error of errors) expect((error.payload as ErrorPayload).code).toBe('RATE_LIMITED');
    expect(frames).toContainEqual({ type: 'rate_limited', payload: { reason: 'flood' } });
  });

  it('answers a burst over the rate with RATE_LIMITED without closing before the flood lasts', async () => {
    const app = await start({ RATE_LIMIT_EVENTS_PER_S: '5', RATE_LIMIT_FLOOD_SECONDS: '100' });
    const { client } = await open(app, { query: signToken({ sub: 'mallory' }) });
    for (let sent = 0; sent < 30; sent += 1) client.send({ type: 'ping' });
    const frames: Frame[] = [];
    while (frames.length < 30) frames.push(await client.next());
    const refusedCount = frames.filter(
      (frame) => frame.type === 'error' && (frame.payload as ErrorPayload).code === 'RATE_LIMITED',
    ).length;
    expect(refusedCount).toBeGreaterThanOrEqual(20);
    expect(frames.filter((frame) => frame.type === 'pong').length).toBe(30 - refusedCount);
    expect(client.isOpen).toBe(true);
  });

  it('refuses a foreign origin over HTTP before any upgrade, and admits an allowed one', async () => {
    const app = await start({ CORS_ORIGINS: 'https://app.example.com' });
    const token = signToken({ sub: 'ivy' });
    const foreign = await EventsClient.connect(app.port, {
      query: token,
      headers: { Origin: 'https://evil.example.net' },
    });
    expect(foreign).toMatchObject({ kind: 'refused', status: 403 });
    if (foreign.kind === 'refused')
      expect(JSON.parse(foreign.body)).toEqual({ code: 'FORBIDDEN', message: expect.any(String) });
    const { authenticated } = await open(app, {
      query: token,
      headers: { Origin: 'https://app.example.com' },
    });
    expect(authenticated.userId).toBe('ivy');
  });

  it('counts the door in MAX_CONNECTIONS_PER_USER with Socket.IO, closing with 1013 CONNECTION_LIMIT', async () => {
    const app = await start({ MAX_CONNECTIONS_PER_USER: '1' });
    await open(app, { query: signToken({ sub: 'jack' }) });
    expect(await EventsClient.refusedAfterUpgrade(app.port, { query: signToken({ sub: 'jack' }) })).toEqual({
      code: 1013,
      reason: 'CONNECTION_LIMIT',
      frames: [],
    });
    const socket = ioClient(`${app.url}/`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { token: signToken({ sub: 'jack' }) },
    });
    try {
      expect((await refused(socket)).message).toBe('CONNECTION_LIMIT');
    } finally {
      socket.close();
    }
    await open(app, { query: signToken({ sub: 'kate' }) });
  });

  it('counts the door in MAX_CONNECTIONS', async () => {
    const app = await start({ MAX_CONNECTIONS: '1' });
    await open(app, { query: signToken({ sub: 'jack' }) });
    expect(await EventsClient.refusedAfterUpgrade(app.port, { query: signToken({ sub: 'kate' }) })).toEqual({
      code: 1013,
      reason: 'CONNECTION_LIMIT',
      frames: [],
    });
  });

  it('replaces an older connection under SESSION_POLICY=single', async () => {
    const app = await start({ SESSION_POLICY: 'single' });
    const { client: older } = await open(app, { query: signToken({ sub: 'lena' }) });
    const { authenticated } = await open(app, { query: signToken({ sub: 'lena' }) });
    expect(await older.next('session:replaced')).toEqual({
      type: 'session:replaced',
      payload: { reason: 'replaced', by: authenticated.connectionId },
    });
    expect(await older.closed).toEqual({ code: 1008, reason: 'SESSION_REPLACED' });
  });

  it('tells clients at shutdown and closes with 1001', async () => {
    const app = await start({});
    const { client } = await open(app, { query: signToken({ sub: 'mona' }) });
    const closing = app.close();
    running.splice(running.indexOf(app), 1);
    expect(await client.next('system')).toEqual({
      type: 'system',
      payload: { message: expect.any(String), level: 'warning' },
    });
    expect(await client.closed).toEqual({ code: 1001, reason: 'SERVER_SHUTDOWN' });
    await closing;
  });
});
