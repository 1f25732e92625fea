import { Module } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import WebSocket from 'ws';
import { RealtimeGateway } from '../../src/realtime/realtime-gateway.decorator.js';
import { RealtimeServer } from '../../src/realtime/realtime-server.js';
import { identityOf } from '../../src/connections/connection.types.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, refused } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

/** Sends the caller as much as it asks for, to play a server with a lot to say. */
@RealtimeGateway('/sink')
class SinkGateway {
  @SubscribeMessage('send-me')
  sendMe(
    @ConnectedSocket() socket: Socket,
    @MessageBody() request: { chunks: number; bytes: number },
  ): boolean {
    const chunk = 'x'.repeat(request.bytes);
    for (let sent = 0; sent < request.chunks; sent += 1) socket.emit('chunk', chunk);
    return true;
  }
}

@Module({ providers: [SinkGateway] })
class SinkModule {}

const engineUrl = (app: RunningApp) => `ws://127.0.0.1:${app.port}/socket.io/?EIO=4&transport=websocket`;

/** A raw Engine.IO WebSocket, resolved once the server's open packet arrived. */
function rawConnection(app: RunningApp): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(engineUrl(app));
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.startsWith('0')) resolve(ws);
      if (text === '2') ws.send('3');
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (_request, response) => {
      reject(new Error(`HTTP ${response.statusCode}`));
    });
  });
}

/** The HTTP answer to a refused WebSocket upgrade: status and JSON body. */
function refusedUpgrade(app: RunningApp): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(engineUrl(app));
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown }),
      );
    });
    ws.once('error', () => undefined);
  });
}

const closed = (ws: WebSocket) => new Promise<void>((resolve) => ws.once('close', () => resolve()));

/**
 * What a client that never authenticates (or never reads) can make the server hold is bounded:
 * attachments per packet, time without a namespace, transport connections per address, and
 * unsent output.
 */
describe('memory before authentication is bounded (security)', () => {
  const running: RunningApp[] = [];
  const raw: WebSocket[] = [];
  const sockets: ReturnType<typeof client>[] = [];
  const start = async (env: Record<string, string>) => {
    const app = await startApp(env, { imports: [SinkModule] });
    running.push(app);
    return app;
  };
  const open = async (app: RunningApp) => {
    const ws = await rawConnection(app);
    raw.push(ws);
    return ws;
  };

  afterEach(async () => {
    for (const ws of raw.splice(0)) ws.terminate();
    await closeAll(sockets);
    await Promise.all(running.splice(0).map((app) => app.close()));
  });

  it('closes a connection whose binary attachments together pass MAX_PAYLOAD_BYTES', async () => {
    const app = await start({ MAX_PAYLOAD_BYTES: '1048576' });
    const ws = await open(app);
    const gone = closed(ws);
    // Ten announced, nine sent: the packet never completes, so only the bound can free it.
    const placeholders = Array.from({ length: 10 }, (_, num) => ({ _placeholder: true, num }));
    ws.send(`4510-${JSON.stringify(['upload', ...placeholders])}`);
    const attachment = Buffer.alloc(400 * 1024, 1);
    for (let sent = 0; sent < 9 && ws.readyState === WebSocket.OPEN; sent += 1) ws.send(attachment);
    await gone;
  });

  it('closes a transport connection that joins no namespace within HANDSHAKE_TIMEOUT_MS', async () => {
    const app = await start({ HANDSHAKE_TIMEOUT_MS: '300' });
    const silent = await open(app);
    const refusedOnce = await open(app);
    const gone = [closed(silent), closed(refusedOnce)];
    refusedOnce.send(`40${JSON.stringify({ token: 'not-a-token' })}`);
    await Promise.all(gone);
  });

  it('keeps an authenticated connection past HANDSHAKE_TIMEOUT_MS', async () => {
    const app = await start({ HANDSHAKE_TIMEOUT_MS: '300' });
    const socket = client(app.url, '/', { auth: { token: signToken() } });
    sockets.push(socket);
    await connected(socket);
    const { setTimeout: wait } = await import('node:timers/promises');
    // The only way to show that nothing happens is to let the deadline pass.
    await wait(600);
    expect(await socket.emitWithAck('ping', {})).toMatchObject({ ok: true });
  });

  it('answers 429 with a JSON body past PREAUTH_CONNECTIONS_PER_IP waiting connections, and admits again once one authenticates', async () => {
    const app = await start({ PREAUTH_CONNECTIONS_PER_IP: '3' });
    const [firstWaiting] = [await open(app), await open(app), await open(app)];
    expect(await refusedUpgrade(app)).toEqual({
      status: 429,
      body: { code: 'RATE_LIMITED', message: expect.any(String) },
    });
    const polling = await fetch(`${app.url}/socket.io/?EIO=4&transport=polling`);
    expect(polling.status).toBe(429);
    expect(await polling.json()).toMatchObject({ code: 'RATE_LIMITED' });

    const authenticated = new Promise<void>((resolve) =>
      firstWaiting.on('message', (data: Buffer) => {
        if (data.toString().startsWith('40')) resolve();
      }),
    );
    firstWaiting.send(`40${JSON.stringify({ token: signToken() })}`);
    await authenticated;
    await open(app);
  });

  it('answers 503 once MAX_CONNECTIONS connections are waiting to authenticate', async () => {
    const app = await start({ MAX_CONNECTIONS: '2', PREAUTH_CONNECTIONS_PER_IP: '0' });
    await open(app);
    await open(app);
    expect(await refusedUpgrade(app)).toEqual({
      status: 503,
      body: { code: 'CONNECTION_LIMIT', message: expect.any(String) },
    });
  });

  it('still refuses at the namespace handshake with connect_error codes', async () => {
    const app = await start({ MAX_CONNECTIONS: '1' });
    const first = client(app.url, '/', { auth: { token: signToken() } });
    sockets.push(first);
    await connected(first);
    const second = client(app.url, '/', { auth: { token: signToken() } });
    sockets.push(second);
    expect((await refused(second)).message).toBe('CONNECTION_LIMIT');
  });

  it('disconnects a client that stops reading once its unsent output passes MAX_OUTBOUND_BUFFER_BYTES', async () => {
    const app = await start({ MAX_OUTBOUND_BUFFER_BYTES: '65536' });
    const ws = await open(app);
    const joined = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer) => {
        if (data.toString().startsWith('40/sink,')) resolve();
      }),
    );
    ws.send(`40/sink,${JSON.stringify({ token: signToken({ sub: 'slow-reader' }) })}`);
    await joined;
    const serverSocket = [...app.app.get(RealtimeServer).namespace('/sink').sockets.values()].find(
      (socket) => identityOf(socket).userId === 'slow-reader',
    );
    if (!serverSocket) throw new Error('the slow reader has no server socket');
    const reason = new Promise<string>((resolve) => serverSocket.once('disconnect', resolve));
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    ws.send(`42/sink,${JSON.stringify(['send-me', { chunks: 64, bytes: 1024 * 1024 }])}`);
    expect(await reason).toBe('forced close');
  });
});
