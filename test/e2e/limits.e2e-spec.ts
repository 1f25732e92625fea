import { Module } from '@nestjs/common';
import { SubscribeMessage } from '@nestjs/websockets';
import WebSocket from 'ws';
import { Roles } from '../../src/auth/auth.metadata.js';
import { RealtimeGateway } from '../../src/realtime/realtime-gateway.decorator.js';
import { Role } from '../../src/auth/roles.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, connected, disconnected, nextEvent, refused } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

type Ack = { ok: boolean; error?: { code: string; message: string } };

/** A host application's own gateway, restricted to admins at the handshake. */
@Roles(Role.Admin)
@RealtimeGateway('/ops')
class OpsGateway {
  @SubscribeMessage('ops:status')
  status() {
    return { healthy: true };
  }
}

@Module({ providers: [OpsGateway] })
class OpsModule {}

describe('limits and protection (e2e)', () => {
  const running: RunningApp[] = [];
  const sockets: ReturnType<typeof client>[] = [];
  const start = async (env: Record<string, string>, imports: unknown[] = []) => {
    const app = await startApp(env, { imports: imports as never });
    running.push(app);
    return app;
  };
  const open = (app: RunningApp, token: string, namespace = '/') => {
    const socket = client(app.url, namespace, { auth: { token } });
    sockets.push(socket);
    return socket;
  };

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await Promise.all(running.splice(0).map((app) => app.close()));
  });

  it('refuses a namespace that requires a role with FORBIDDEN, and admits an admin', async () => {
    const app = await start({}, [OpsModule]);
    const denied = await refused(open(app, signToken({ sub: 'alice' }), '/ops'));
    expect(denied.message).toBe('FORBIDDEN');
    expect(denied.data).toEqual({ code: 'FORBIDDEN', message: expect.stringContaining('admin') });
    const admin = open(app, signToken({ sub: 'root', roles: ['admin'] }), '/ops');
    await connected(admin);
    expect(await admin.emitWithAck('ops:status', {})).toEqual({ ok: true, data: { healthy: true } });
  });

  it('refuses handshakes over the per-IP rate with RATE_LIMITED', async () => {
    const app = await start({ RATE_LIMIT_HANDSHAKES_PER_MIN: '2' });
    await connected(open(app, signToken()));
    await connected(open(app, signToken()));
    const third = await refused(open(app, signToken()));
    expect(third.message).toBe('RATE_LIMITED');
    expect(third.data?.code).toBe('RATE_LIMITED');
  });

  const forwardedFor = (app: RunningApp, header: string) => {
    const socket = client(app.url, '/', {
      auth: { token: signToken() },
      extraHeaders: { 'X-Forwarded-For': header },
    });
    sockets.push(socket);
    return socket;
  };

  it('behind one trusted proxy, counts handshakes per client address the proxy appended', async () => {
    const app = await start({ RATE_LIMIT_HANDSHAKES_PER_MIN: '1', TRUST_PROXY: 'true' });
    // A proxy that appends (nginx's $proxy_add_x_forwarded_for) puts the real peer last.
    await connected(forwardedFor(app, '198.51.100.1, 203.0.113.7'));
    await connected(forwardedFor(app, '198.51.100.1, 203.0.113.8'));
    expect((await refused(forwardedFor(app, '198.51.100.1, 203.0.113.7'))).message).toBe('RATE_LIMITED');
  });

  it('ignores X-Forwarded-For entries a client wrote itself: rotating them gets no new allowance', async () => {
    const app = await start({ RATE_LIMIT_HANDSHAKES_PER_MIN: '2', TRUST_PROXY: '1' });
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const socket = forwardedFor(app, `10.9.${attempt}.1, 203.0.113.9`);
      outcomes.push(
        await connected(socket).then(
          () => 'connected',
          (error: Error) => error.message,
        ),
      );
    }
    expect(outcomes).toEqual(['connected', 'connected', ...Array<string>(4).fill('RATE_LIMITED')]);
  });

  it('with TRUST_PROXY=false, X-Forwarded-For changes nothing', async () => {
    const app = await start({ RATE_LIMIT_HANDSHAKES_PER_MIN: '1' });
    await connected(forwardedFor(app, '203.0.113.7'));
    expect((await refused(forwardedFor(app, '203.0.113.8'))).message).toBe('RATE_LIMITED');
  });

  it('with a list of trusted proxies, skips those hops and no others', async () => {
    const app = await start({ RATE_LIMIT_HANDSHAKES_PER_MIN: '1', TRUST_PROXY: 'loopback, 10.0.0.0/8' });
    await connected(forwardedFor(app, '198.51.100.1, 203.0.113.7, 10.1.2.3'));
    await connected(forwardedFor(app, '198.51.100.1, 203.0.113.8, 10.1.2.3'));
    expect((await refused(forwardedFor(app, '198.51.100.2, 203.0.113.7, 10.4.5.6'))).message).toBe(
      'RATE_LIMITED',
    );
  });

  it('refuses connections over MAX_CONNECTIONS with CONNECTION_LIMIT', async () => {
    const app = await start({ MAX_CONNECTIONS: '1' });
    await connected(open(app, signToken({ sub: 'alice' })));
    const second = await refused(open(app, signToken({ sub: 'bob' })));
    expect(second.message).toBe('CONNECTION_LIMIT');
  });

  it('refuses a user over MAX_CONNECTIONS_PER_USER, but not other users', async () => {
    const app = await start({ MAX_CONNECTIONS_PER_USER: '1' });
    await connected(open(app, signToken({ sub: 'alice' })));
    expect((await refused(open(app, signToken({ sub: 'alice' })))).message).toBe('CONNECTION_LIMIT');
    await connected(open(app, signToken({ sub: 'bob' })));
  });

  it('SESSION_POLICY=single replaces the user’s older connection', async () => {
    const app = await start({ SESSION_POLICY: 'single' });
    const older = open(app, signToken({ sub: 'alice' }));
    await connected(older);
    const replaced = nextEvent<{ data: { reason: string } }>(older, 'session:replaced');
    const newer = open(app, signToken({ sub: 'alice' }));
    await connected(newer);
    expect((await replaced).data.reason).toBe('replaced');
    await disconnected(older);
    expect(newer.connected).toBe(true);
  });

  it('refuses events over the per-socket rate with RATE_LIMITED and keeps the socket', async () => {
    const app = await start({ RATE_LIMIT_EVENTS_PER_S: '5', RATE_LIMIT_FLOOD_SECONDS: '100' });
    const socket = open(app, signToken());
    await connected(socket);
    const acks = (await Promise.all(
      Array.from({ length: 8 }, () => socket.emitWithAck('ping', {})),
    )) as Ack[];
    expect(acks.filter((ack) => ack.ok)).toHaveLength(5);
    expect(acks.filter((ack) => !ack.ok).map((ack) => ack.error?.code)).toEqual(
      Array(3).fill('RATE_LIMITED'),
    );
    expect(socket.connected).toBe(true);
  });

  it('disconnects a socket that keeps flooding', async () => {
    const app = await start({ RATE_LIMIT_EVENTS_PER_S: '2', RATE_LIMIT_FLOOD_SECONDS: '1' });
    const socket = open(app, signToken());
    await connected(socket);
    const notice = nextEvent<{ data: { reason: string } }>(socket, 'rate_limited');
    const gone = disconnected(socket);
    for (let sent = 0; sent < 5; sent += 1) socket.emit('ping', {});
    expect((await notice).data.reason).toBe('flood');
    expect(await gone).toBe('io server disconnect');
  });

  describe('malformed and oversized packets', () => {
    const rawSocketIo = (app: RunningApp, token: string) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${app.port}/socket.io/?EIO=4&transport=websocket`);
        ws.on('message', (data: Buffer) => {
          const text = data.toString();
          if (text.startsWith('0')) ws.send(`40${JSON.stringify({ token })}`);
          if (text.startsWith('40')) resolve(ws);
          if (text === '2') ws.send('3');
        });
        ws.once('error', reject);
      });
    const closed = (ws: WebSocket) =>
      new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

    it('closes only the socket that sent a malformed packet', async () => {
      const app = await start({});
      const bystander = open(app, signToken({ sub: 'bystander' }));
      await connected(bystander);
      const ws = await rawSocketIo(app, signToken({ sub: 'mallory' }));
      const gone = closed(ws);
      ws.send('42["unterminated');
      await gone;
      expect(((await bystander.emitWithAck('ping', {})) as Ack).ok).toBe(true);
    });

    it('closes only the socket that sent a packet over MAX_PAYLOAD_BYTES', async () => {
      const app = await start({ MAX_PAYLOAD_BYTES: '2048' });
      const bystander = open(app, signToken({ sub: 'bystander' }));
      await connected(bystander);
      const ws = await rawSocketIo(app, signToken({ sub: 'mallory' }));
      const gone = closed(ws);
      ws.send(`42${JSON.stringify(['ping', { junk: 'x'.repeat(4096) }])}`);
      expect(await gone).toBe(1009);
      expect(((await bystander.emitWithAck('ping', {})) as Ack).ok).toBe(true);
    });
  });
});
