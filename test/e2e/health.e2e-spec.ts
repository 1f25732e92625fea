import request from 'supertest';
import { DatabaseService } from '../../src/database/database.service.js';
import { RealtimeServer } from '../../src/realtime/realtime-server.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected } from '../support/clients.js';
import { pollUntil } from '../support/polling.js';
import { signToken } from '../support/tokens.js';

interface Probe {
  status: number;
  body: Record<string, unknown>;
  cacheControl: string | undefined;
}

const READINESS_PATHS = ['/api/health/ready', '/api/health'] as const;

const OK_READINESS = {
  status: 'ok',
  serverId: expect.any(String),
  connections: 0,
  uptimeS: expect.any(Number),
  checks: { redis: { status: 'disabled' }, database: { status: 'up', latencyMs: expect.any(Number) } },
};

async function probe(running: RunningApp, path: string): Promise<Probe> {
  const response = await request(running.app.getHttpServer()).get(path);
  return {
    status: response.status,
    body: response.body as Record<string, unknown>,
    cacheControl: response.headers['cache-control'],
  };
}

describe('health probes on the embedded defaults: SQLite, no Redis (e2e)', () => {
  describe('a running instance', () => {
    let running: RunningApp;
    const sockets: ReturnType<typeof client>[] = [];

    beforeAll(async () => {
      running = await startApp();
    });
    afterEach(() => closeAll(sockets));
    afterAll(() => running.close());

    it('GET /api/health/live answers 200 without a token', async () => {
      const live = await probe(running, '/api/health/live');
      expect(live.status).toBe(200);
      expect(live.body).toEqual({ status: 'ok', serverId: expect.any(String), uptimeS: expect.any(Number) });
    });

    it.each(READINESS_PATHS)('GET %s answers 200 ok, Redis disabled, the database up', async (path) => {
      const ready = await probe(running, path);
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual(OK_READINESS);
    });

    it.each(['/api/health/live', ...READINESS_PATHS])('GET %s is never cached', async (path) => {
      expect((await probe(running, path)).cacheControl).toBe('no-store');
    });

    it('counts this instance’s connections in readiness', async () => {
      const socket = client(running.url, '/', { auth: { token: signToken({ sub: 'health-user' }) } });
      sockets.push(socket);
      await connected(socket);
      const { value } = await pollUntil(
        () => probe(running, '/api/health/ready'),
        ({ body }) => body.connections === 1,
        { what: 'the connections readiness counts', timeoutMs: 2000 },
      );
      expect(value.status).toBe(200);
    });
  });

  describe('an instance whose database is unreachable', () => {
    let running: RunningApp;

    beforeAll(async () => {
      running = await startApp();
      await running.app.get(DatabaseService).close();
    });
    afterAll(() => running.close());

    it.each(READINESS_PATHS)('GET %s answers 503 down with the reason', async (path) => {
      const ready = await probe(running, path);
      expect(ready.status).toBe(503);
      expect(ready.body).toEqual({
        ...OK_READINESS,
        status: 'down',
        reasons: [expect.stringMatching(/^database unreachable: .+/)],
        checks: { redis: { status: 'disabled' }, database: { status: 'down', error: expect.any(String) } },
      });
    });

    it('GET /api/health/live still answers 200', async () => {
      expect((await probe(running, '/api/health/live')).status).toBe(200);
    });
  });

  describe('an instance that is shutting down', () => {
    let running: RunningApp;

    beforeAll(async () => {
      running = await startApp();
      expect((await probe(running, '/api/health/ready')).status).toBe(200);
      // The first step of `app.close()`: it refuses handshakes and closes the sockets. The HTTP
      // server closes only at the next step, which would leave no moment to ask deterministically.
      running.app.get(RealtimeServer).beforeApplicationShutdown('SIGTERM');
    });
    afterAll(() => running.close());

    it.each(READINESS_PATHS)('GET %s answers 503 down, the dependencies still up', async (path) => {
      const ready = await probe(running, path);
      expect(ready.status).toBe(503);
      expect(ready.body).toEqual({ ...OK_READINESS, status: 'down', reasons: ['shutting down'] });
    });

    it('GET /api/health/live still answers 200', async () => {
      const live = await probe(running, '/api/health/live');
      expect(live.status).toBe(200);
      expect(live.body).toMatchObject({ status: 'ok' });
    });
  });
});
