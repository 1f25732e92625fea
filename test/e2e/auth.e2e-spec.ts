import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import WebSocket from 'ws';
import { startApp, TEST_SECRET, type RunningApp } from '../support/app.js';
import { client, connected, disconnected, nextEvent, refused } from '../support/clients.js';
import { TestClock } from '../support/test-clock.js';
import { signToken, signTokenAt } from '../support/tokens.js';
import { unauthorizedBody } from '../support/rest-errors.js';

interface AuthenticatedEvent {
  type: string;
  data: { userId: string; sessionId: string; connectionId: string; roles: string[]; expiresAt: string };
  timestamp: string;
}

describe('authentication (e2e)', () => {
  let running: RunningApp;
  /** The app's time for token expiry: a test moves it past a token's `exp` instead of waiting. */
  const clock = new TestClock();
  const sockets: ReturnType<typeof client>[] = [];
  const open = (...args: Parameters<typeof client>) => {
    const socket = client(...args);
    sockets.push(socket);
    return socket;
  };

  beforeAll(async () => {
    running = await startApp({ CORS_ORIGINS: 'https://app.example.com,https://*.example.org' }, { clock });
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(() => running.close());

  describe.each(['/', '/chat'])('every namespace refuses bad tokens: %s', (namespace) => {
    it.each([
      ['no token', {}, 'AUTH_MISSING'],
      [
        'a forged token',
        { auth: { token: jwt.sign({ sub: 'm', exp: Math.floor(Date.now() / 1000) + 60 }, 'wrong') } },
        'AUTH_INVALID',
      ],
      ['an expired token', { auth: { token: signToken({}, -10) } }, 'AUTH_EXPIRED'],
    ])('refuses %s', async (_case, options, code) => {
      const error = await refused(open(running.url, namespace, options));
      expect(error.message).toBe(code);
      expect(error.data).toEqual({ code, message: expect.any(String) });
    });

    it('accepts a valid token and emits authenticated', async () => {
      const event = await connected<AuthenticatedEvent>(
        open(running.url, namespace, { auth: { token: signToken({ sub: 'zoe' }) } }),
      );
      expect(event.data.userId).toBe('zoe');
    });
  });

  describe('handshake', () => {
    it('refuses a connection without a token with AUTH_MISSING', async () => {
      const error = await refused(open(running.url, '/'));
      expect(error.message).toBe('AUTH_MISSING');
      expect(error.data).toEqual({ code: 'AUTH_MISSING', message: expect.any(String) });
    });

    it('refuses a badly signed token with AUTH_INVALID', async () => {
      const forged = jwt.sign({ sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 60 }, 'not-the-secret');
      const error = await refused(open(running.url, '/', { auth: { token: forged } }));
      expect(error.message).toBe('AUTH_INVALID');
      expect(error.data?.code).toBe('AUTH_INVALID');
    });

    it('refuses an unsigned alg:none token with AUTH_INVALID', async () => {
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      const payload = Buffer.from(
        JSON.stringify({ sub: 'mallory', roles: ['admin'], exp: Math.floor(Date.now() / 1000) + 60 }),
      ).toString('base64url');
      const error = await refused(open(running.url, '/', { auth: { token: `${header}.${payload}.` } }));
      expect(error.message).toBe('AUTH_INVALID');
    });

    it('refuses an RS256 token when the server verifies HS256', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const token = jwt.sign({ sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 60 }, privateKey, {
        algorithm: 'RS256',
      });
      const error = await refused(open(running.url, '/', { auth: { token } }));
      expect(error.message).toBe('AUTH_INVALID');
    });

    it('refuses an expired token with AUTH_EXPIRED', async () => {
      const error = await refused(open(running.url, '/', { auth: { token: signToken({}, -10) } }));
      expect(error.message).toBe('AUTH_EXPIRED');
    });

    it('accepts the token from auth.token and emits authenticated', async () => {
      const token = signToken({ sub: 'alice', roles: ['admin'], sid: 'session-a' });
      const event = await connected<AuthenticatedEvent>(open(running.url, '/', { auth: { token } }));
      expect(event.type).toBe('authenticated');
      expect(event.data).toEqual({
        userId: 'alice',
        sessionId: 'session-a',
        connectionId: expect.any(String),
        roles: ['admin'],
        expiresAt: expect.any(String),
      });
      expect(Date.parse(event.timestamp)).not.toBeNaN();
    });

    it('accepts the token from an Authorization: Bearer header', async () => {
      const socket = open(running.url, '/', {
        extraHeaders: { Authorization: `Bearer ${signToken({ sub: 'bob' })}` },
      });
      const event = await connected<AuthenticatedEvent>(socket);
      expect(event.data.userId).toBe('bob');
    });

    it('accepts the token from the query string', async () => {
      const socket = open(running.url, '/', { query: { token: signToken({ sub: 'carol' }) } });
      expect((await connected<AuthenticatedEvent>(socket)).data.userId).toBe('carol');
    });

    it('accepts the token from the authToken cookie', async () => {
      const socket = open(running.url, '/', {
        extraHeaders: { Cookie: `theme=dark; authToken=${signToken({ sub: 'dave' })}` },
      });
      expect((await connected<AuthenticatedEvent>(socket)).data.userId).toBe('dave');
    });

    it('prefers auth.token over the other sources', async () => {
      const socket = open(running.url, '/', {
        auth: { token: signToken({ sub: 'first' }) },
        query: { token: signToken({ sub: 'second' }) },
      });
      expect((await connected<AuthenticatedEvent>(socket)).data.userId).toBe('first');
    });

    it('uses the connection id as session id when the token has no sid', async () => {
      const event = await connected<AuthenticatedEvent>(
        open(running.url, '/', { auth: { token: signToken() } }),
      );
      expect(event.data.sessionId).toBe(event.data.connectionId);
    });
  });

  describe('live connections', () => {
    it('disconnects at exp with auth:expired, and the token is refused from then on', async () => {
      const token = signTokenAt(clock, {}, 60);
      const socket = open(running.url, '/', { auth: { token } });
      const { data } = await connected<AuthenticatedEvent>(socket);
      const expired = nextEvent<{ type: string; data: { reason: string; expiredAt: string } }>(
        socket,
        'auth:expired',
      );
      const gone = disconnected(socket);

      clock.advance(Date.parse(data.expiresAt) - clock.now());

      expect(await expired).toEqual({
        type: 'auth:expired',
        data: { reason: 'token expired', expiredAt: data.expiresAt },
        timestamp: expect.any(String),
      });
      await gone;
      expect(socket.connected).toBe(false);
      expect((await refused(open(running.url, '/', { auth: { token } }))).message).toBe('AUTH_EXPIRED');
    });

    it('keeps a connection whose token has not expired yet', async () => {
      const socket = open(running.url, '/', { auth: { token: signTokenAt(clock, {}, 60) } });
      const { data } = await connected<AuthenticatedEvent>(socket);
      const notices: string[] = [];
      socket.on('auth:expired', () => notices.push('auth:expired'));

      clock.advance(Date.parse(data.expiresAt) - clock.now() - 10_000);

      // The schedule runs within the jump, so a notice would be on the wire before the pong.
      expect(((await socket.emitWithAck('ping', {})) as { ok: boolean }).ok).toBe(true);
      expect(notices).toEqual([]);
      expect(socket.connected).toBe(true);
    });

    it('auth:refresh moves the expiry of the whole connection', async () => {
      const socket = open(running.url, '/', { auth: { token: signTokenAt(clock, { sub: 'erin' }, 60) } });
      const { data } = await connected<AuthenticatedEvent>(socket);
      const fresh = signTokenAt(clock, { sub: 'erin' }, 3600);
      const ack = (await socket.emitWithAck('auth:refresh', { token: fresh })) as {
        ok: boolean;
        data: { expiresAt: string };
      };
      expect(ack.ok).toBe(true);
      expect(Date.parse(ack.data.expiresAt)).toBeGreaterThan(Date.parse(data.expiresAt) + 3000 * 1000);
      const notices: string[] = [];
      socket.on('auth:expired', () => notices.push('auth:expired'));

      clock.advance(Date.parse(data.expiresAt) - clock.now() + 60_000);

      // The schedule runs within the jump, so a notice would be on the wire before the pong.
      const pong = (await socket.emitWithAck('ping', {})) as { ok: boolean };
      expect(pong.ok).toBe(true);
      expect(notices).toEqual([]);
      expect(socket.connected).toBe(true);
    });

    it('auth:refresh refuses a token of another user and bad payloads, and the socket lives', async () => {
      const socket = open(running.url, '/', { auth: { token: signToken({ sub: 'frank' }) } });
      await connected(socket);
      const other = (await socket.emitWithAck('auth:refresh', { token: signToken({ sub: 'grace' }) })) as {
        ok: boolean;
        error: { code: string };
      };
      expect(other).toEqual({ ok: false, error: expect.objectContaining({ code: 'FORBIDDEN' }) });
      const invalid = (await socket.emitWithAck('auth:refresh', { token: 'garbage' })) as {
        ok: boolean;
        error: { code: string };
      };
      expect(invalid.error.code).toBe('UNAUTHORIZED');
      const wrongType = (await socket.emitWithAck('auth:refresh', { token: 42 })) as {
        ok: boolean;
        error: { code: string };
      };
      expect(wrongType.error.code).toBe('VALIDATION_FAILED');
      const missing = (await socket.emitWithAck('auth:refresh', null)) as {
        ok: boolean;
        error: { code: string };
      };
      expect(missing.error.code).toBe('VALIDATION_FAILED');
      expect(((await socket.emitWithAck('ping', {})) as { ok: boolean }).ok).toBe(true);
    });
  });

  describe('origin check', () => {
    const upgrade = (origin?: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${running.port}/socket.io/?EIO=4&transport=websocket`, {
          headers: origin ? { Origin: origin } : {},
        });
        ws.once('open', () => {
          ws.close();
          resolve('open');
        });
        ws.once('unexpected-response', (_request, response) => resolve(`refused ${response.statusCode}`));
        ws.once('error', () => resolve('error'));
      });

    it('refuses a raw WebSocket upgrade from a foreign origin', async () => {
      expect(await upgrade('https://evil.example.net')).toMatch(/^refused 4\d\d$/);
    });

    it('accepts listed origins, wildcard subdomains and requests without Origin', async () => {
      expect(await upgrade('https://app.example.com')).toBe('open');
      expect(await upgrade('https://eu.app.example.org')).toBe('open');
      expect(await upgrade(undefined)).toBe('open');
    });
  });

  describe('HTTP', () => {
    it('answers 401 without a token and with a bad one', async () => {
      const missing = await request(running.app.getHttpServer()).get('/api/sessions/count');
      expect(missing.status).toBe(401);
      expect(missing.body).toEqual(unauthorizedBody('AUTH_MISSING'));
      const forged = await request(running.app.getHttpServer())
        .get('/api/sessions/count')
        .set(
          'Authorization',
          `Bearer ${jwt.sign({ sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 }, 'wrong')}`,
        );
      expect(forged.status).toBe(401);
      expect(forged.body).toEqual(unauthorizedBody('AUTH_INVALID', 'Token signature is invalid'));
    });

    it('accepts each HTTP token source', async () => {
      const server = running.app.getHttpServer();
      const token = signToken({ sub: 'henry' });
      expect(
        (await request(server).get('/api/sessions/count').set('Authorization', `Bearer ${token}`)).status,
      ).toBe(200);
      expect((await request(server).get(`/api/sessions/count?token=${token}`)).status).toBe(200);
      expect(
        (await request(server).get('/api/sessions/count').set('Cookie', `authToken=${token}`)).status,
      ).toBe(200);
    });

    it('answers 403 on an admin route without the admin role', async () => {
      const response = await request(running.app.getHttpServer())
        .get('/api/sessions')
        .set('Authorization', `Bearer ${signToken({ sub: 'ivan' })}`);
      expect(response.status).toBe(403);
      expect(response.body).toEqual({
        statusCode: 403,
        error: 'Forbidden',
        code: 'FORBIDDEN',
        message: 'Requires role admin',
      });
    });

    it('refuses a token without exp', async () => {
      const noExp = jwt.sign({ sub: 'judy' }, TEST_SECRET);
      const response = await request(running.app.getHttpServer())
        .get('/api/sessions/count')
        .set('Authorization', `Bearer ${noExp}`);
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({
        code: 'UNAUTHORIZED',
        message: 'Token has no expiry (exp claim is required)',
        details: { code: 'AUTH_INVALID' },
      });
    });
  });

  describe('one verdict on every door', () => {
    type AuthCode = 'AUTH_MISSING' | 'AUTH_INVALID' | 'AUTH_EXPIRED' | 'AUTH_REVOKED';
    type Ack = { ok: boolean; error?: { code: string; message: string; details?: unknown } };
    const admin = () => signTokenAt(clock, { sub: 'door-admin', roles: ['admin'] });
    const nowS = () => Math.floor(clock.now() / 1000);

    const CASES: [string, () => Promise<string | undefined>, AuthCode][] = [
      ['no token', () => Promise.resolve(undefined), 'AUTH_MISSING'],
      [
        'a token signed with another secret',
        () => Promise.resolve(jwt.sign({ sub: 'door-user', exp: nowS() + 60 }, 'not-the-secret')),
        'AUTH_INVALID',
      ],
      [
        'an expired token',
        () => Promise.resolve(signTokenAt(clock, { sub: 'door-user' }, -10)),
        'AUTH_EXPIRED',
      ],
      [
        'a token whose exp the server clock has passed',
        () => {
          const token = signTokenAt(clock, { sub: 'door-user' }, 30);
          clock.advance(31_000);
          return Promise.resolve(token);
        },
        'AUTH_EXPIRED',
      ],
      [
        'a token of a revoked session',
        async () => {
          const sessionId = `door-revoked-${Date.now()}`;
          const revoked = await request(running.app.getHttpServer())
            .delete(`/api/sessions/${sessionId}`)
            .set('Authorization', `Bearer ${admin()}`);
          expect(revoked.status).toBe(200);
          return signTokenAt(clock, { sub: 'door-user', sid: sessionId });
        },
        'AUTH_REVOKED',
      ],
      [
        'a validly signed token whose exp no date can hold',
        () => Promise.resolve(signTokenAt(clock, { sub: 'door-user', exp: 1e300 })),
        'AUTH_INVALID',
      ],
      [
        'a validly signed token that expired before 1970',
        () => Promise.resolve(signTokenAt(clock, { sub: 'door-user', exp: -1 })),
        'AUTH_INVALID',
      ],
    ];

    it.each(CASES)(
      'refuses %s as connect_error, REST 401 and auth:refresh with the same code and message',
      async (_case, tokenFor, code) => {
        const token = await tokenFor();

        const handshake = await refused(
          open(running.url, '/', token === undefined ? {} : { auth: { token } }),
        );
        const rest = await request(running.app.getHttpServer())
          .get('/api/sessions/me')
          .set(token === undefined ? {} : { Authorization: `Bearer ${token}` });

        expect(handshake.message).toBe(code);
        expect(handshake.data).toEqual({ code, message: expect.any(String) });
        expect(rest.status).toBe(401);
        expect(rest.body).toEqual(unauthorizedBody(code));
        const restMessage = (rest.body as { message: string }).message;
        expect(restMessage).not.toMatch(/AUTH_/);
        if (token === undefined) return;
        expect(restMessage).toBe(handshake.data?.message);

        const live = open(running.url, '/', { auth: { token: signTokenAt(clock, { sub: 'door-user' }) } });
        await connected(live);
        const refresh = (await live.emitWithAck('auth:refresh', { token })) as Ack;
        expect(refresh).toEqual({
          ok: false,
          error: { code: 'UNAUTHORIZED', message: restMessage, details: { code } },
        });
      },
    );
  });
});
