import { jest } from '@jest/globals';
import { Module } from '@nestjs/common';
import type { OnGatewayConnection, OnGatewayDisconnect } from '@nestjs/websockets';
import request from 'supertest';
import type { Socket } from 'socket.io';
import { RealtimeGateway } from '../../src/realtime/realtime-gateway.decorator.js';
import { SocketAuthenticator } from '../../src/auth/socket-authenticator.js';
import { TokenVerifier } from '../../src/auth/token-verifier.js';
import { ConnectionRegistry } from '../../src/connections/connection-registry.js';
import { identityOf } from '../../src/connections/connection.types.js';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, disconnected, nextEvent, refused } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

/** A host gateway whose lifecycle hooks fail for one user, synchronously and asynchronously. */
@RealtimeGateway('/fragile')
class FragileGateway implements OnGatewayConnection<Socket>, OnGatewayDisconnect<Socket> {
  static readonly failures: string[] = [];

  handleConnection(socket: Socket): void {
    if (identityOf(socket).userId !== 'breaker') return;
    FragileGateway.failures.push('connection');
    throw new Error('handleConnection failed');
  }

  async handleDisconnect(socket: Socket): Promise<void> {
    if (identityOf(socket).userId !== 'breaker') return;
    FragileGateway.failures.push('disconnect');
    await Promise.resolve();
    throw new Error('handleDisconnect failed');
  }
}

@Module({ providers: [FragileGateway] })
class FragileModule {}

/** Resolves the first time the spied method is called; the method then fails with `error`. */
function failNextCall<T extends object>(target: T, method: keyof T & string, error: Error): Promise<void> {
  return new Promise((resolve) => {
    const spy = jest.spyOn(target as Record<string, () => unknown>, method).mockImplementationOnce(() => {
      resolve();
      throw error;
    });
    void spy;
  });
}

/**
 * No exception in a connection, event or timer callback may end the process: each entry point
 * catches, logs, answers the client where it can, and the server goes on serving.
 */
describe('failures inside callbacks do not end the process (security)', () => {
  let app: RunningApp;
  const sockets: ReturnType<typeof client>[] = [];
  const escaped: unknown[] = [];
  const recordEscape = (error: unknown) => escaped.push(error);

  beforeAll(async () => {
    process.on('uncaughtException', recordEscape);
    process.on('unhandledRejection', recordEscape);
    app = await startApp({ SESSIONS_BROADCAST_MS: '50' }, { imports: [FragileModule] });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await closeAll(sockets);
    expect(escaped).toEqual([]);
  });
  afterAll(async () => {
    await app.close();
    process.off('uncaughtException', recordEscape);
    process.off('unhandledRejection', recordEscape);
  });

  const open = (token: string, namespace = '/') => {
    const socket = client(app.url, namespace, { auth: { token } });
    sockets.push(socket);
    return socket;
  };
  const stillServing = async () => {
    const socket = open(signToken({ sub: 'bystander' }));
    await connected(socket);
    expect(await socket.emitWithAck('ping', {})).toMatchObject({ ok: true });
    await request(app.app.getHttpServer()).get('/api/health').expect(200);
  };

  it('closes a socket whose set-up failed, and serves the next one', async () => {
    const registry = app.app.get(ConnectionRegistry);
    const failed = failNextCall(registry, 'register', new Error('store exploded'));
    const socket = open(signToken({ sub: 'victim' }));
    const exception = nextEvent<{ code: string }>(socket, 'exception');
    await failed;
    expect((await exception).code).toBe('INTERNAL');
    await disconnected(socket);
    await stillServing();
  });

  it('answers a refresh whose verification threw unexpectedly with INTERNAL, and keeps the socket', async () => {
    const socket = open(signToken({ sub: 'alice' }));
    await connected(socket);
    void failNextCall(app.app.get(TokenVerifier), 'verify', new Error('key store exploded'));
    expect(await socket.emitWithAck('auth:refresh', { token: signToken({ sub: 'alice' }) })).toEqual({
      ok: false,
      error: { code: 'INTERNAL', message: 'Internal server error' },
    });
    expect(await socket.emitWithAck('ping', {})).toMatchObject({ ok: true });
  });

  it('survives a failing expiry timer callback', async () => {
    const authenticator = app.app.get<SocketAuthenticator, { expire: () => void }>(SocketAuthenticator);
    const fired = failNextCall(authenticator, 'expire', new Error('expiry exploded'));
    await connected(open(signToken({ sub: 'short-lived' }, 1)));
    await fired;
    await stillServing();
  });

  it('survives a failing timer of a service (the sessions count push)', async () => {
    const registry = app.app.get(ConnectionRegistry);
    const failed = failNextCall(registry, 'countConnections', new Error('count exploded'));
    await connected(open(signToken({ sub: 'alice' })));
    await failed;
    await stillServing();
  });

  it("survives a gateway's handleConnection that throws and a handleDisconnect that rejects", async () => {
    FragileGateway.failures.length = 0;
    const socket = open(signToken({ sub: 'breaker' }), '/fragile');
    await connected(socket);
    socket.close();
    const { pollUntil } = await import('../support/polling.js');
    await pollUntil(
      () => Promise.resolve([...FragileGateway.failures]),
      (failures) => failures.length === 2,
      { what: 'both hooks failing', timeoutMs: 5000 },
    );
    await stillServing();
  });
});

describe('a validly signed token with an absurd expiry (security)', () => {
  let server: AppProcess;

  beforeAll(async () => {
    server = await startAppProcess({ serverId: 'far-future' });
  });
  afterAll(() => server.stop());

  it('is refused as AUTH_INVALID on every door and the process lives on', async () => {
    const absurd = signToken({ sub: 'x', exp: 9_000_000_000_000 });
    for (const namespace of ['/', '/chat']) {
      const socket = client(server.url, namespace, { auth: { token: absurd } });
      expect((await refused(socket)).message).toBe('AUTH_INVALID');
      socket.close();
    }
    const socket = client(server.url, '/', { auth: { token: signToken({ sub: 'x' }) } });
    await connected(socket);
    const refresh: { error?: { details?: unknown } } = await socket.emitWithAck('auth:refresh', {
      token: absurd,
    });
    expect(refresh.error?.details).toEqual({ code: 'AUTH_INVALID' });
    socket.close();
    const response = await fetch(`${server.url}/api/sessions/me`, {
      headers: { Authorization: `Bearer ${absurd}` },
    });
    expect(response.status).toBe(401);
    expect(server.running).toBe(true);
    expect((await fetch(`${server.url}/api/health`)).status).toBe(200);
  });
});
