import type { Socket } from 'socket.io-client';
import request from 'supertest';
import type { ApiResponse } from '../../src/common/http-response.js';
import type {
  AckResponse,
  SessionsClientEvents,
  SessionsCountPayload,
  SessionsListResult,
  SessionsServerEvents,
} from '../../src/contracts/index.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, connected, disconnected, nextEvent, refused, closeAll } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

/** A `/` socket as a TypeScript client types it, from the published contracts. */
type SessionsSocket = Socket<SessionsServerEvents, SessionsClientEvents>;
/** What the server sends with `event` on `/`. */
type Received<E extends keyof SessionsServerEvents> = Parameters<SessionsServerEvents[E]>[0];

/** A REST body, typed by the test that reads it. */
const body = <T>(response: { body: unknown }) => response.body as T;
type CountBody = ApiResponse<SessionsCountPayload & { timestamp: string }>;
type Page = ApiResponse<SessionsListResult>;

/** The same socket untyped, for payloads (or an emit without an ack) that the contract refuses. */
const raw = (socket: SessionsSocket): Socket => socket;

describe('sessions (e2e)', () => {
  let running: RunningApp;
  const sockets: SessionsSocket[] = [];
  const open = (token: string): SessionsSocket => {
    const socket: SessionsSocket = client(running.url, '/', { auth: { token } });
    sockets.push(socket);
    return socket;
  };
  const http = () => request(running.app.getHttpServer());
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  const adminToken = signToken({ sub: 'root', roles: ['admin'] });

  beforeAll(async () => {
    running = await startApp({ SESSIONS_BROADCAST_MS: '100' });
  });
  afterEach(async () => {
    await closeAll(sockets);
    await waitForCount(0);
  });
  afterAll(() => running.close());

  async function waitForCount(expected: number): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const response = await http().get('/api/sessions/count').set(bearer(adminToken));
      if (body<CountBody>(response).data.activeSessionsCount === expected) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error(`count never reached ${expected}`);
  }

  it('counts live connections over REST and over the socket, and they agree', async () => {
    const alice = open(signToken({ sub: 'alice' }));
    await connected(alice);
    await connected(open(signToken({ sub: 'bob' })));
    const overSocket = await alice.emitWithAck('sessions:count', {});
    const overHttp = await http()
      .get('/api/sessions/count')
      .set(bearer(signToken({ sub: 'alice' })));
    expect(overSocket).toEqual({ ok: true, data: { activeSessionsCount: 2 } });
    expect(overHttp.status).toBe(200);
    expect(overHttp.body).toEqual({
      message: expect.any(String),
      data: { activeSessionsCount: 2, timestamp: expect.any(String) },
    });
  });

  it('counts one connection once however many namespaces it joins', async () => {
    const token = signToken({ sub: 'alice' });
    const root = open(token);
    await connected(root);
    const count = await root.emitWithAck('sessions:count', {});
    expect(count).toEqual({ ok: true, data: { activeSessionsCount: 1 } });
  });

  it('pushes sessions:count when the count changes', async () => {
    const watcher = open(signToken({ sub: 'watcher' }));
    await connected(watcher);
    const pushed = new Promise<number>((resolve) => {
      watcher.on('sessions:count', (event) => {
        expect(event.type).toBe('sessions:count');
        if (event.data.activeSessionsCount === 2) resolve(event.data.activeSessionsCount);
      });
    });
    await connected(open(signToken({ sub: 'newcomer' })));
    expect(await pushed).toBe(2);
  });

  it('answers ping with the server time', async () => {
    const socket = open(signToken());
    await connected(socket);
    const ack = await socket.emitWithAck('ping', {});
    expect(ack.ok).toBe(true);
    if (ack.ok) expect(Math.abs(Date.parse(ack.data.pong) - Date.now())).toBeLessThan(60_000);
  });

  describe('listing', () => {
    it('lists sessions for admins, page by page, over the socket', async () => {
      await connected(open(signToken({ sub: 'alice', sid: 's-alice' })));
      await connected(open(signToken({ sub: 'bob', sid: 's-bob' })));
      const admin = open(adminToken);
      await connected(admin);
      const first = await admin.emitWithAck('sessions:list', { page: 1, limit: 2 });
      expect(first.ok).toBe(true);
      if (!first.ok) return;
      expect(first.data.totalCount).toBe(3);
      expect(first.data.sessions).toHaveLength(2);
      expect(first.data.sessions[0]).toEqual({
        id: 's-alice',
        userId: 'alice',
        connectionId: expect.any(String),
        instanceId: expect.any(String),
        namespaces: ['/'],
        connectedAt: expect.any(String),
        expiresAt: expect.any(String),
        userAgent: expect.any(String),
        ipAddress: expect.any(String),
      });
      const second = await admin.emitWithAck('sessions:list', { page: 2, limit: 2 });
      expect(second.ok && second.data.sessions).toHaveLength(1);
    });

    it('refuses sessions:list to a non-admin with FORBIDDEN and keeps the socket', async () => {
      const socket = open(signToken({ sub: 'eve' }));
      await connected(socket);
      const ack = await socket.emitWithAck('sessions:list', {});
      expect(ack).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: expect.any(String) } });
      expect((await socket.emitWithAck('ping', {})).ok).toBe(true);
    });

    it.each([
      ['a wrong type', { page: 'first' }],
      ['a page size over the limit', { limit: 100000 }],
      ['an unknown field', { page: 1, drop: 'table' }],
      ['a non-object payload', 'everything'],
    ])('answers VALIDATION_FAILED for %s and keeps the socket', async (_case, payload) => {
      const admin = open(adminToken);
      await connected(admin);
      const ack = (await raw(admin).emitWithAck('sessions:list', payload)) as AckResponse<SessionsListResult>;
      expect(ack.ok).toBe(false);
      if (!ack.ok) expect(ack.error.code).toBe('VALIDATION_FAILED');
      expect((await admin.emitWithAck('ping', {})).ok).toBe(true);
    });

    it('emits the error as exception when the event has no ack', async () => {
      const socket = open(signToken({ sub: 'eve' }));
      await connected(socket);
      const exception = nextEvent<Received<'exception'>>(socket, 'exception');
      raw(socket).emit('sessions:list', {});
      expect(await exception).toEqual({ code: 'FORBIDDEN', message: expect.any(String) });
    });

    it('lists over REST for admins only, filtered by user', async () => {
      await connected(open(signToken({ sub: 'alice' })));
      await connected(open(signToken({ sub: 'bob' })));
      const forbidden = await http()
        .get('/api/sessions')
        .set(bearer(signToken({ sub: 'alice' })));
      expect(forbidden.status).toBe(403);
      expect(forbidden.body).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
      const all = await http().get('/api/sessions?page=1&limit=10').set(bearer(adminToken));
      expect(all.status).toBe(200);
      expect(body<Page>(all).data.totalCount).toBe(2);
      const bobs = await http().get('/api/sessions?userId=bob').set(bearer(adminToken));
      expect(body<Page>(bobs).data.sessions.map((session) => session.userId)).toEqual(['bob']);
      const bad = await http().get('/api/sessions?limit=0').set(bearer(adminToken));
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        code: 'VALIDATION_FAILED',
        message: expect.stringContaining('limit'),
        details: expect.any(Array),
      });
    });

    it('lists the caller’s own sessions at /api/sessions/me', async () => {
      await connected(open(signToken({ sub: 'alice', sid: 'mine' })));
      await connected(open(signToken({ sub: 'bob' })));
      const response = await http()
        .get('/api/sessions/me')
        .set(bearer(signToken({ sub: 'alice' })));
      expect(response.status).toBe(200);
      const mine = body<ApiResponse<Pick<SessionsListResult, 'sessions'>>>(response);
      expect(mine.data.sessions.map((session) => session.id)).toEqual(['mine']);
    });
  });

  describe('revocation', () => {
    it('revokes the caller’s own session: sockets close at once and the token is refused', async () => {
      const token = signToken({ sub: 'alice', sid: 'to-revoke' });
      const socket = open(token);
      await connected(socket);
      const revoked = nextEvent<Received<'auth:revoked'>>(socket, 'auth:revoked');
      const response = await http().delete('/api/sessions/to-revoke').set(bearer(token));
      expect(response.status).toBe(200);
      expect(body<ApiResponse<unknown>>(response).data).toEqual({ sessionId: 'to-revoke', disconnected: 1 });
      expect((await revoked).data.sessionId).toBe('to-revoke');
      await disconnected(socket);
      const again = await refused(open(token));
      expect(again.message).toBe('AUTH_REVOKED');
      const overHttp = await http().get('/api/sessions/count').set(bearer(token));
      expect(overHttp.status).toBe(401);
    });

    it('revokes a session without sid by its connection id, refusing that token afterwards', async () => {
      const token = signToken({ sub: 'alice' });
      const socket = open(token);
      const { data } = await connected<Received<'authenticated'>>(socket);
      const response = await http().delete(`/api/sessions/${data.sessionId}`).set(bearer(token));
      expect(response.status).toBe(200);
      await disconnected(socket);
      expect((await refused(open(token))).message).toBe('AUTH_REVOKED');
    });

    it('does not let a user revoke someone else’s session', async () => {
      const bobToken = signToken({ sub: 'bob', sid: 'bobs' });
      const bob = open(bobToken);
      await connected(bob);
      const response = await http()
        .delete('/api/sessions/bobs')
        .set(bearer(signToken({ sub: 'mallory' })));
      expect(response.status).toBe(404);
      expect(bob.connected).toBe(true);
      expect((await bob.emitWithAck('ping', {})).ok).toBe(true);
    });

    it('lets an admin revoke any session', async () => {
      const bob = open(signToken({ sub: 'bob', sid: 'admin-target' }));
      await connected(bob);
      const response = await http().delete('/api/sessions/admin-target').set(bearer(adminToken));
      expect(response.status).toBe(200);
      await disconnected(bob);
    });

    it('answers 404 for an unknown session', async () => {
      const response = await http()
        .delete('/api/sessions/no-such-session')
        .set(bearer(signToken({ sub: 'alice' })));
      expect(response.status).toBe(404);
      expect(response.body).toEqual({
        statusCode: 404,
        error: 'Not Found',
        code: 'NOT_FOUND',
        message: expect.any(String),
      });
    });
  });

  describe('health', () => {
    it('answers without a token', async () => {
      const response = await http().get('/api/health');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        status: 'ok',
        serverId: expect.any(String),
        connections: 0,
        uptimeS: expect.any(Number),
        checks: { redis: { status: 'disabled' }, database: { status: 'up', latencyMs: expect.any(Number) } },
      });
    });
  });
});
