import http, { type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import WebSocket from 'ws';
import { startApp, TEST_SECRET, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, refused } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

const ALLOWED = ['https://app.example.com', 'https://eu.example.com', 'https://x-1.example.com'];

/** Origins of other sites, and the allowed ones with something changed. */
const FOREIGN = [
  'https://evil.example.net',
  'https://example.com.evil.net',
  'https://app.example.com.evil.net',
  'https://evilexample.com',
  'https://example.com',
  'http://app.example.com',
  'http://eu.example.com',
  'https://app.example.com:8443',
  'http://localhost:3000',
  'http://127.0.0.1:8080',
];

/** What no browser sends for an allowed page, shaped to slip past a loose match. */
const MALFORMED = [
  'null',
  'https://*.example.com',
  'https://.example.com',
  'https://app.example.com.',
  'https://app.example.com/path',
  'https://evil.net/.example.com',
  'https://evil.net?.example.com',
  'https://evil.net#.example.com',
  'https://evil.net\\.example.com',
  'https://app.example.com@evil.net',
  'https://evil%2enet.example.com',
  'https://a b.example.com',
  'https://a\tb.example.com',
  'https://\u00e9vil.example.com',
];

const REFUSED = [...FOREIGN, ...MALFORMED];
const asRows = (origins: string[]) => origins.map((origin) => [JSON.stringify(origin), origin] as const);

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('origin allow-list in production (security)', () => {
  let app: RunningApp;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    app = await startApp({
      NODE_ENV: 'production',
      JWT_SECRET: TEST_SECRET,
      CORS_ORIGINS: 'https://app.example.com,https://*.example.com',
      RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
      RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
    });
  });
  afterEach(() => closeAll(sockets));
  afterAll(() => app?.close());

  /** A raw WebSocket upgrade: `open`, or `refused <status>` when the server answered HTTP. */
  function upgrade(origin?: string): Promise<string> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${app.port}/socket.io/?EIO=4&transport=websocket`, {
        headers: origin === undefined ? {} : { Origin: origin },
      });
      ws.once('open', () => {
        ws.close();
        resolve('open');
      });
      ws.once('unexpected-response', (_request, response) => {
        response.resume();
        resolve(`refused ${response.statusCode}`);
        ws.terminate();
      });
      ws.once('error', (error) => resolve(`error ${error.message}`));
    });
  }

  /** The first request of an Engine.IO long-polling session, over plain HTTP. */
  function pollingHandshake(origin?: string): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const outgoing = http.get(
        {
          host: '127.0.0.1',
          port: app.port,
          path: '/socket.io/?EIO=4&transport=polling',
          headers: origin === undefined ? {} : { Origin: origin },
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
          );
        },
      );
      outgoing.once('error', reject);
    });
  }

  const pollingClient = (origin?: string) => {
    const socket = client(app.url, '/', {
      transports: ['polling'],
      auth: { token: signToken({ sub: 'polly' }) },
      ...(origin === undefined ? {} : { extraHeaders: { Origin: origin } }),
    });
    sockets.push(socket);
    return socket;
  };

  const websocketClient = (origin?: string) => {
    const socket = client(app.url, '/', {
      auth: { token: signToken({ sub: 'wendy' }) },
      ...(origin === undefined ? {} : { extraHeaders: { Origin: origin } }),
    });
    sockets.push(socket);
    return socket;
  };

  /** Whether a response lets `origin` read it from a browser. */
  function grantsCors(headers: IncomingHttpHeaders | Record<string, string>, origin: string): boolean {
    const allowed = (headers as Record<string, unknown>)['access-control-allow-origin'];
    return allowed === origin || allowed === '*';
  }

  describe.each(asRows(REFUSED))('refuses Origin %s', (_label, origin) => {
    it('on the WebSocket upgrade', async () => {
      expect(await upgrade(origin)).toMatch(/^refused 4\d\d$/);
    });

    it('on a WebSocket opened by socket.io-client', async () => {
      const error = await refused(websocketClient(origin));
      expect(error.message).toBe('websocket error');
    });

    it('on a raw long-polling handshake, with no CORS grant and no session', async () => {
      const response = await pollingHandshake(origin);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(response.body).not.toContain('"sid"');
      expect(grantsCors(response.headers, origin)).toBe(false);
    });

    it('on long-polling opened by socket.io-client', async () => {
      const error = (await refused(pollingClient(origin))) as Error & { description?: unknown };
      expect(error.message).toBe('xhr poll error');
      expect(error.description).toBeGreaterThanOrEqual(400);
      expect(error.description).toBeLessThan(500);
    });

    it('on a REST preflight and a REST request: no Access-Control-Allow-Origin', async () => {
      const preflight = await request(app.app.getHttpServer())
        .options('/api/sessions/me')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'GET')
        .set('Access-Control-Request-Headers', 'authorization');
      expect(preflight.status).toBeLessThan(500);
      expect(grantsCors(preflight.headers, origin)).toBe(false);
      expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();

      const simple = await request(app.app.getHttpServer()).get('/api/health').set('Origin', origin);
      expect(grantsCors(simple.headers, origin)).toBe(false);
    });
  });

  describe.each(asRows(ALLOWED))('accepts Origin %s', (_label, origin) => {
    it('on the WebSocket upgrade', async () => {
      expect(await upgrade(origin)).toBe('open');
    });

    it('on a WebSocket opened by socket.io-client', async () => {
      await connected(websocketClient(origin));
    });

    it('on a raw long-polling handshake, with a CORS grant for that origin only', async () => {
      const response = await pollingHandshake(origin);
      expect(response.status).toBe(200);
      expect(response.body).toMatch(/^0\{"sid":/);
      expect(response.headers['access-control-allow-origin']).toBe(origin);
    });

    it('on long-polling opened by socket.io-client', async () => {
      await connected(pollingClient(origin));
    });

    it('on a REST preflight, for that origin only', async () => {
      const preflight = await request(app.app.getHttpServer())
        .options('/api/sessions/me')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'GET')
        .set('Access-Control-Request-Headers', 'authorization');
      expect(preflight.status).toBeLessThan(300);
      expect(preflight.headers['access-control-allow-origin']).toBe(origin);
      expect(preflight.headers['access-control-allow-credentials']).toBe('true');
    });
  });

  describe('without an Origin header (not a browser)', () => {
    it('accepts the WebSocket upgrade', async () => {
      expect(await upgrade(undefined)).toBe('open');
    });

    it('accepts socket.io-client over WebSocket and over long-polling', async () => {
      await connected(websocketClient());
      await connected(pollingClient());
    });

    it('accepts a raw long-polling handshake', async () => {
      const response = await pollingHandshake(undefined);
      expect(response.status).toBe(200);
      expect(response.body).toMatch(/^0\{"sid":/);
    });

    it('serves REST', async () => {
      const response = await request(app.app.getHttpServer())
        .get('/api/sessions/me')
        .set('Authorization', `Bearer ${signToken({ sub: 'native-app' })}`);
      expect(response.status).toBe(200);
    });
  });
});
