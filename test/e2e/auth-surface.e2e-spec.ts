import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import type { AckResponse, Whoami } from '../../src/contracts/index.js';
import { startApp, TEST_SECRET, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, disconnected, nextEvent, refused } from '../support/clients.js';
import { unauthorizedBody } from '../support/rest-errors.js';
import { signToken } from '../support/tokens.js';

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const dataOf = <T>(response: { body: unknown }): T => (response.body as { data: T }).data;

describe('the Auth module’s own routes and events (e2e)', () => {
  let running: RunningApp;
  const sockets: Socket[] = [];
  const http = () => request(running.url);

  async function open(token: string, namespace = '/'): Promise<Socket> {
    const socket = client(running.url, namespace, { auth: { token }, reconnection: false });
    sockets.push(socket);
    await connected(socket);
    return socket;
  }

  beforeAll(async () => {
    running = await startApp({ NODE_ENV: 'development', RATE_LIMIT_HANDSHAKES_PER_MIN: '0' });
  });

  afterEach(async () => {
    await closeAll(sockets);
  });

  afterAll(async () => {
    await running.close();
  });

  describe('GET /api/auth/me', () => {
    it('answers the caller, their session and expiry, and the claims the server used', async () => {
      const alice = newUser('alice');
      const sid = randomUUID();
      const token = signToken({ sub: alice, roles: ['admin'], sid });
      const response = await http().get('/api/auth/me').set('Authorization', `Bearer ${token}`);
      expect(response.status).toBe(200);
      expect(dataOf<Whoami>(response)).toEqual({
        userId: alice,
        roles: ['admin'],
        sessionId: sid,
        expiresAt: expect.any(String),
        claims: expect.objectContaining({ sub: alice, sid, roles: ['admin'], exp: expect.any(Number) }),
      });
    });

    it('refuses no token and a bad one', async () => {
      expect((await http().get('/api/auth/me')).body).toEqual(unauthorizedBody('AUTH_MISSING'));
      const forged = await http().get('/api/auth/me').set('Authorization', `Bearer ${signToken()}x`);
      expect(forged.status).toBe(401);
    });
  });

  describe('POST /api/auth/logout', () => {
    it('revokes the caller’s session: its sockets close and its token is refused', async () => {
      const alice = newUser('alice');
      const token = signToken({ sub: alice, sid: randomUUID() });
      const other = signToken({ sub: alice, sid: randomUUID() });
      const socket = await open(token);
      const kept = await open(other);
      const revoked = nextEvent(socket, 'auth:revoked');
      const closing = disconnected(socket);

      const response = await http().post('/api/auth/logout').set('Authorization', `Bearer ${token}`).send({});
      expect(response.status).toBe(200);
      expect(dataOf<{ sessionIds: string[] }>(response).sessionIds).toHaveLength(1);
      await revoked;
      await closing;
      expect(kept.connected).toBe(true);
      expect((await http().get('/api/auth/me').set('Authorization', `Bearer ${token}`)).status).toBe(401);
      const again = client(running.url, '/', { auth: { token }, reconnection: false });
      sockets.push(again);
      expect((await refused(again)).message).toBe('AUTH_REVOKED');
    });

    it('with everywhere, revokes every session of the user', async () => {
      const bob = newUser('bob');
      const tokens = [1, 2].map(() => signToken({ sub: bob, sid: randomUUID() }));
      const devices = await Promise.all(tokens.map((token) => open(token, '/chat')));
      const closing = devices.map((device) => disconnected(device));

      const response = await http()
        .post('/api/auth/logout')
        .set('Authorization', `Bearer ${tokens[0]}`)
        .send({ everywhere: true });
      expect(response.status).toBe(200);
      expect(dataOf<{ sessionIds: string[] }>(response).sessionIds).toHaveLength(2);
      await Promise.all(closing);
    });

    it('without a sid, closes the connections that carried this very token', async () => {
      const carol = newUser('carol');
      const token = signToken({ sub: carol });
      const socket = await open(token);
      const closing = disconnected(socket);
      const response = await http().post('/api/auth/logout').set('Authorization', `Bearer ${token}`).send({});
      expect(response.status).toBe(200);
      await closing;
      expect((await http().get('/api/auth/me').set('Authorization', `Bearer ${token}`)).status).toBe(401);
    });

    it.each([{ everywhere: 'yes' }, { everywhere: 1 }, [true]])('refuses the body %p', async (body) => {
      const response = await http()
        .post('/api/auth/logout')
        .set('Authorization', `Bearer ${signToken({ sub: newUser('dave') })}`)
        .send(body);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it('needs a token', async () => {
      expect((await http().post('/api/auth/logout').send({})).status).toBe(401);
    });
  });

  describe('POST /api/auth/dev-token', () => {
    it('mints a token this server accepts, in development, for a loopback caller', async () => {
      const response = await http()
        .post('/api/auth/dev-token')
        .send({ sub: 'dev-erin', roles: ['admin'], ttl: '15m' });
      expect(response.status).toBe(200);
      const { token } = dataOf<{ token: string }>(response);
      const me = await http().get('/api/auth/me').set('Authorization', `Bearer ${token}`);
      expect(dataOf<Whoami>(me)).toMatchObject({ userId: 'dev-erin', roles: ['admin'] });
      expect(token).not.toContain(TEST_SECRET);
    });

    it.each([
      [{}, 'sub'],
      [{ sub: '' }, 'sub'],
      [{ sub: '   ' }, 'sub'],
      [{ sub: 42 }, 'sub'],
      [{ sub: 'x', roles: 'admin' }, 'roles'],
      [{ sub: 'x', roles: [1] }, 'roles'],
      [{ sub: 'x', ttl: '10y' }, 'ttl'],
      [{ sub: 'x', ttl: 0 }, 'ttl'],
      [{ sub: 'x', ttl: 8 * 24 * 3600 }, 'ttl'],
      [{ sub: 'x'.repeat(300) }, 'sub'],
    ])('refuses %p naming %s', async (body, field) => {
      const response = await http().post('/api/auth/dev-token').send(body);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: expect.arrayContaining([expect.objectContaining({ field })]),
      });
    });

    it('does not exist from another address, even in development', async () => {
      const proxied = await startApp({ NODE_ENV: 'development', TRUST_PROXY: 'true' });
      try {
        const response = await request(proxied.url)
          .post('/api/auth/dev-token')
          .set('X-Forwarded-For', '203.0.113.9')
          .send({ sub: 'mallory', roles: ['admin'] });
        expect(response.status).toBe(404);
        expect(JSON.stringify(response.body)).not.toContain('token":"ey');
      } finally {
        await proxied.close();
      }
    });

    it('does not exist in production', async () => {
      const production = await startApp({ NODE_ENV: 'production' });
      try {
        for (const body of [{ sub: 'mallory' }, { sub: 42 }]) {
          // A bad body too: nothing, not even a validation error, tells the route exists.
          expect((await request(production.url).post('/api/auth/dev-token').send(body)).status).toBe(404);
        }
      } finally {
        await production.close();
      }
    });
  });

  describe('auth:whoami on /', () => {
    it('answers who the connection is', async () => {
      const frank = newUser('frank');
      const socket = await open(signToken({ sub: frank, roles: ['service'] }));
      const ack = (await socket.emitWithAck('auth:whoami', {})) as AckResponse<Whoami>;
      expect(ack).toEqual({
        ok: true,
        data: {
          userId: frank,
          roles: ['service'],
          sessionId: expect.any(String),
          connectionId: expect.any(String),
          expiresAt: expect.any(String),
        },
      });
    });

    it('answers NOT_FOUND on another namespace, where it is not an event', async () => {
      const socket = await open(signToken({ sub: newUser('gina') }), '/chat');
      const ack = (await socket.emitWithAck('auth:whoami', {})) as AckResponse<Whoami>;
      expect(ack).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
      expect(socket.connected).toBe(true);
    });
  });
});
