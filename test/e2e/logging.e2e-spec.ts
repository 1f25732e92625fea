import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { DestinationStream } from 'pino';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { createApp } from '../../src/bootstrap.js';
import { TEST_SECRET } from '../support/app.js';
import { startAppProcess } from '../support/app-process.js';
import { client, closeAll, connected, refused } from '../support/clients.js';
import { EventsClient, closeClients } from '../support/events-websocket-client.js';
import { pollUntil } from '../support/polling.js';
import { signToken } from '../support/tokens.js';

interface LogLine {
  level: string;
  time: string;
  context?: string;
  msg?: string;
  [field: string]: unknown;
}

/** Every line the app writes, as written: the test reads its logs instead of stdout. */
class CapturedLog implements DestinationStream {
  readonly lines: string[] = [];

  write(chunk: string): void {
    this.lines.push(...chunk.split('\n').filter((line) => line.length > 0));
  }

  parsed(): LogLine[] {
    return this.lines.map((line) => JSON.parse(line) as LogLine);
  }
}

interface LoggedApp {
  app: NestExpressApplication;
  url: string;
  port: number;
  log: CapturedLog;
}

/** The app in process as `createApp` builds it for production, logging to a capture. */
async function startLoggedApp(env: Record<string, string>): Promise<LoggedApp> {
  const log = new CapturedLog();
  const saved = process.env;
  process.env = {
    PATH: saved.PATH ?? '',
    NODE_ENV: 'test',
    JWT_SECRET: TEST_SECRET,
    DATABASE_URL: 'sqlite::memory:',
    HOST: '127.0.0.1',
    PORT: '0',
    ...env,
  };
  let app: NestExpressApplication;
  try {
    app = await createApp({ envFile: false, logDestination: log });
  } finally {
    process.env = saved;
  }
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  if (!address || typeof address === 'string') throw new Error('The app did not bind a TCP port');
  return { app, log, port: address.port, url: `http://127.0.0.1:${address.port}` };
}

/** The parts of a JWT that identify it: none of them may appear in a log. */
function secretParts(token: string): string[] {
  const [, payload = '', signature = ''] = token.split('.');
  return [token, payload, signature];
}

describe('structured logs (e2e)', () => {
  describe('an e2e run with tokens in every place a client puts them', () => {
    let logged: LoggedApp;
    const sockets: Socket[] = [];
    const plain: EventsClient[] = [];
    const userId = `log-user-${randomUUID()}`;
    // One token per place, so that a leak says where it came from.
    const tokens = {
      header: signToken({ sub: userId }),
      query: signToken({ sub: userId }),
      cookie: signToken({ sub: userId }),
      socketAuth: signToken({ sub: userId }),
      socketHeader: signToken({ sub: userId }),
      socketQuery: signToken({ sub: userId }),
      socketCookie: signToken({ sub: userId }),
      doorQuery: signToken({ sub: userId }),
      refreshed: signToken({ sub: userId }),
      expired: signToken({ sub: userId }, -60),
      forged: `${signToken({ sub: userId }).slice(0, -4)}AAAA`,
    };

    beforeAll(async () => {
      logged = await startLoggedApp({ LOG_LEVEL: 'verbose' });
      const http = () => request(logged.app.getHttpServer());

      expect((await http().get('/api/auth/me').set('Authorization', `Bearer ${tokens.header}`)).status).toBe(
        200,
      );
      expect((await http().get(`/api/auth/me?token=${tokens.query}&page=2`)).status).toBe(200);
      expect((await http().get('/api/auth/me').set('Cookie', `authToken=${tokens.cookie}`)).status).toBe(200);
      expect((await http().get('/api/auth/me').set('Authorization', `Bearer ${tokens.expired}`)).status).toBe(
        401,
      );
      expect((await http().get(`/api/no-such-route?token=${tokens.forged}`)).status).toBe(404);

      const viaAuth = client(logged.url, '/', { auth: { token: tokens.socketAuth } });
      const viaHeader = client(logged.url, '/chat', {
        extraHeaders: { Authorization: `Bearer ${tokens.socketHeader}` },
      });
      const viaQuery = client(logged.url, '/presence', { query: { token: tokens.socketQuery } });
      const viaCookie = client(logged.url, '/notifications', {
        extraHeaders: { Cookie: `authToken=${tokens.socketCookie}` },
      });
      const withForgery = client(logged.url, '/', { auth: { token: tokens.forged } });
      sockets.push(viaAuth, viaHeader, viaQuery, viaCookie, withForgery);
      await Promise.all([viaAuth, viaHeader, viaQuery, viaCookie].map((socket) => connected(socket)));
      expect((await refused(withForgery)).data?.code).toBe('AUTH_INVALID');
      const refresh = (await viaAuth.emitWithAck('auth:refresh', { token: tokens.refreshed })) as {
        ok: boolean;
      };
      expect(refresh.ok).toBe(true);

      const { client: door } = await EventsClient.open(logged.port, { query: tokens.doorQuery });
      plain.push(door);

      new Logger('LoggingSpec').warn(`a Nest Logger call site, with a stray Bearer ${tokens.header}`);

      await closeAll(sockets);
      await closeClients(plain.splice(0));
      // The server logs each close once it noticed it: wait for the last of them.
      await pollUntil(
        () =>
          Promise.resolve(logged.log.parsed().filter((line) => line.msg?.startsWith('Connection closed'))),
        (closes) => closes.length >= 5,
        { what: 'connection close lines', timeoutMs: 5000 },
      );
      await logged.app.close();
    });

    it('writes JSON lines only', () => {
      expect(logged.log.lines.length).toBeGreaterThan(10);
      for (const line of logged.log.lines) {
        const parsed = JSON.parse(line) as LogLine;
        expect(typeof parsed.level).toBe('string');
        expect(typeof parsed.time).toBe('string');
      }
    });

    it('never writes a token, whichever way the client sent it', () => {
      const output = logged.log.lines.join('\n');
      for (const [where, token] of Object.entries(tokens)) {
        for (const part of secretParts(token)) {
          if (output.includes(part)) throw new Error(`the token sent in ${where} appears in the logs`);
        }
      }
      expect(output).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    });

    it('writes one line per HTTP request: method, path without credentials, status, duration, user', () => {
      const requests = logged.log.parsed().filter((line) => line.context === 'HTTP');
      expect(requests).toHaveLength(5);
      expect(requests[0]).toMatchObject({
        level: 'info',
        method: 'GET',
        path: '/api/auth/me',
        status: 200,
        userId,
        address: '127.0.0.1',
      });
      expect(typeof requests[0]?.durationMs).toBe('number');
      expect(requests[1]).toMatchObject({
        path: '/api/auth/me?token=[Redacted]&page=2',
        status: 200,
        userId,
      });
      expect(requests[2]).toMatchObject({ path: '/api/auth/me', status: 200, userId });
      expect(requests[3]).toMatchObject({ path: '/api/auth/me', status: 401 });
      expect(requests[3]).not.toHaveProperty('userId');
      expect(requests[4]).toMatchObject({ path: '/api/no-such-route?token=[Redacted]', status: 404 });
    });

    it('writes a line when each connection opens and closes: connection, user, namespace, address', () => {
      const lines = logged.log.parsed().filter((line) => line.context === 'Connections');
      const opened = lines.filter((line) => line.msg?.startsWith('Connection opened'));
      const closed = lines.filter((line) => line.msg?.startsWith('Connection closed'));
      const namespaces = ['/', '/chat', '/presence', '/notifications', '/ws/events'];
      expect(opened.map((line) => line.namespace).sort()).toEqual([...namespaces].sort());
      expect(closed.map((line) => line.namespace).sort()).toEqual([...namespaces].sort());
      for (const line of [...opened, ...closed]) {
        expect(line).toMatchObject({ level: 'info', userId, address: '127.0.0.1' });
        expect(line.connectionId).toEqual(expect.any(String));
        expect(line.door).toBe(line.namespace === '/ws/events' ? 'websocket' : 'socket.io');
      }
      for (const line of closed) expect(line.durationMs).toEqual(expect.any(Number));
    });

    it("keeps Nest's Logger call sites, with their context", () => {
      const line = logged.log.parsed().find((entry) => entry.context === 'LoggingSpec');
      expect(line).toMatchObject({
        level: 'warn',
        msg: 'a Nest Logger call site, with a stray Bearer [Redacted]',
      });
      expect(logged.log.parsed().some((entry) => entry.context === 'NestApplication')).toBe(true);
    });
  });

  it('respects LOG_LEVEL: at warn, requests and connections are not logged', async () => {
    const logged = await startLoggedApp({ LOG_LEVEL: 'warn' });
    try {
      const token = signToken({ sub: 'quiet-user' });
      const response = await request(logged.app.getHttpServer())
        .get('/api/auth/me')
        .set('Authorization', `Bearer ${token}`);
      expect(response.status).toBe(200);
      const socket = client(logged.url, '/', { auth: { token } });
      await connected(socket);
      socket.close();
      new Logger('LoggingSpec').log('below the level');
      new Logger('LoggingSpec').warn('at the level');
    } finally {
      await logged.app.close();
    }
    const lines = logged.log.parsed();
    expect(lines.every((line) => ['warn', 'error', 'fatal'].includes(line.level))).toBe(true);
    expect(lines.some((line) => line.msg === 'at the level')).toBe(true);
  });

  it('the built server logs JSON on stdout, without the tokens of its requests', async () => {
    const app = await startAppProcess({ serverId: 'logging', env: { LOG_LEVEL: 'log' } });
    const token = signToken({ sub: 'process-user' });
    try {
      const logged = app.waitForLine(/"context":"HTTP"/, 5000);
      const response = await request(app.url).get(`/api/auth/me?token=${token}`);
      expect(response.status).toBe(200);
      await logged;
    } finally {
      await app.stop();
    }
    const output = app.recentOutput();
    for (const part of secretParts(token)) expect(output).not.toContain(part);
    const lines = output.split('\n').filter((text) => text.length > 0);
    for (const text of lines) expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(output).toContain('"path":"/api/auth/me?token=[Redacted]"');
  });
});
