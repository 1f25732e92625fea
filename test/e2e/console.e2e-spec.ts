import jwt from 'jsonwebtoken';
import request from 'supertest';
import { startApp, TEST_SECRET, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, refused } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

/** The browser bundle the page imports, served from the socket.io-client package. */
const CLIENT_BUNDLE = '/console/vendor/socket.io/socket.io.esm.min.js';

describe('admin console: static page and its server side (e2e)', () => {
  describe('served by a production instance', () => {
    let app: RunningApp;
    const sockets: ReturnType<typeof client>[] = [];

    beforeAll(async () => {
      app = await startApp({
        NODE_ENV: 'production',
        CORS_ORIGINS: 'https://app.example.com',
        RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
        RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
      });
    });
    afterEach(() => closeAll(sockets));
    afterAll(() => app?.close());

    const get = (path: string) => request(app.app.getHttpServer()).get(path);

    it('serves the page at /console/ without a token, revalidated on every load, under the CSP', async () => {
      const page = await get('/console/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('<title>Switchboard console</title>');
      expect(page.headers['cache-control']).toBe('no-cache');
      expect(page.headers.etag).toBeDefined();
      const csp = String(page.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'self'");
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    });

    it('redirects /console to /console/, so that the page finds its files', async () => {
      const response = await get('/console');
      expect(response.status).toBe(301);
      expect(response.headers.location).toBe('/console/');
    });

    it.each([
      ['/console/app.js', /javascript/],
      ['/console/chart.js', /javascript/],
      ['/console/format.js', /javascript/],
      ['/console/console.css', /text\/css/],
      [CLIENT_BUNDLE, /javascript/],
    ])('serves %s', async (path, type) => {
      const response = await get(path);
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(type);
      expect(response.headers['cache-control']).toBe('no-cache');
    });

    it('answers a conditional request for an unchanged file 304', async () => {
      const first = await get('/console/app.js');
      const again = await get('/console/app.js').set('If-None-Match', String(first.headers.etag));
      expect(again.status).toBe(304);
    });

    it('answers 404 for what is not there, and never lists a directory', async () => {
      for (const path of ['/console/missing.js', '/console/vendor/socket.io/', '/console/../package.json']) {
        expect((await get(path)).status).toBe(404);
      }
    });

    it('offers no demo token outside development, even to this machine', async () => {
      const response = await request(app.app.getHttpServer())
        .post('/api/auth/dev-token')
        .send({ sub: 'demo-admin', roles: ['admin'] });
      expect(response.status).toBe(404);
      expect(response.body).toEqual(expect.objectContaining({ code: 'NOT_FOUND' }));
    });

    it("lets the page's own origin open a socket, though CORS_ORIGINS does not list it", async () => {
      const own = client(app.url, '/', {
        auth: { token: signToken({ sub: 'console-user' }) },
        extraHeaders: { Origin: app.url },
      });
      sockets.push(own);
      await expect(connected(own)).resolves.toBeDefined();
      const foreign = client(app.url, '/', {
        auth: { token: signToken({ sub: 'console-user' }) },
        extraHeaders: { Origin: `http://127.0.0.1:${app.port + 1}` },
      });
      sockets.push(foreign);
      await expect(refused(foreign)).resolves.toBeInstanceOf(Error);
    });
  });

  describe('the demo token of a development instance', () => {
    let app: RunningApp;

    beforeAll(async () => {
      app = await startApp({ NODE_ENV: 'development', RATE_LIMIT_REST_PER_IP_PER_MIN: '0' });
    });
    afterAll(() => app?.close());

    // What the console's sign-in form asks for.
    const devToken = () =>
      request(app.app.getHttpServer())
        .post('/api/auth/dev-token')
        .send({ sub: 'demo-admin', roles: ['admin'], ttl: '1h' });

    it('is an admin token for demo-admin, to a request from this machine, never stored', async () => {
      const response = await devToken().set('Sec-Fetch-Site', 'same-origin');
      expect(response.status).toBe(200);
      expect(response.headers['cache-control']).toBe('no-store');
      const body = response.body as { data: { token: string } };
      const claims = jwt.verify(body.data.token, TEST_SECRET) as jwt.JwtPayload;
      expect(claims).toEqual(expect.objectContaining({ sub: 'demo-admin', roles: ['admin'] }));
      expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(3600);
    });

    it.each([
      ['through a proxy (X-Forwarded-For)', { 'X-Forwarded-For': '127.0.0.1' }],
      ['through a proxy (Forwarded)', { Forwarded: 'for=127.0.0.1' }],
      ['to another host name (DNS rebinding)', { Host: 'evil.example.net' }],
      ['to a look-alike host name', { Host: 'localhost.evil.example.net' }],
      ['from a page of another site', { 'Sec-Fetch-Site': 'cross-site' }],
      ['from a page of a sibling site', { 'Sec-Fetch-Site': 'same-site' }],
    ])('is not there for a request %s', async (_label, headers) => {
      const response = await devToken().set(headers);
      expect(response.status).toBe(404);
      expect(JSON.stringify(response.body)).not.toMatch(/eyJ/);
    });
  });
});
