import { Module } from '@nestjs/common';
import { MessageBody, SubscribeMessage, type OnGatewayConnection } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { IsInt, Min } from 'class-validator';
import { RealtimeGateway } from '../../src/realtime/realtime-gateway.decorator.js';
import { AppError } from '../../src/common/errors.js';
import { RealtimeServer } from '../../src/realtime/realtime-server.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, connected } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

const HANDLER_COUNT = 10;

class CountDto {
  @IsInt()
  @Min(0)
  n!: number;
}

/** Ten handlers on `/`, beside the sessions gateway. */
@RealtimeGateway('/')
class WideGateway {
  @SubscribeMessage('wide:0') h0(@MessageBody() body: CountDto) {
    return { doubled: body.n * 2 };
  }
  @SubscribeMessage('wide:1') h1() {
    throw AppError.conflict('already done');
  }
  @SubscribeMessage('wide:2') h2() {
    throw new Error('boom');
  }
  @SubscribeMessage('wide:3') h3() {
    return 3;
  }
  @SubscribeMessage('wide:4') h4() {
    return 4;
  }
  @SubscribeMessage('wide:5') h5() {
    return 5;
  }
  @SubscribeMessage('wide:6') h6() {
    return 6;
  }
  @SubscribeMessage('wide:7') h7() {
    return 7;
  }
  @SubscribeMessage('wide:8') h8() {
    return 8;
  }
  @SubscribeMessage('wide:9') async h9() {
    return Promise.resolve(9);
  }
}

@Module({ providers: [WideGateway] })
class WideModule {}

/**
 * Counts the events that reach it, to show what the per-socket gate keeps out, and adds a
 * middleware of its own on connection that refuses `count:refused`.
 */
@RealtimeGateway('/')
class CountingGateway implements OnGatewayConnection<Socket> {
  received = 0;
  refusedReceived = 0;

  handleConnection(socket: Socket): void {
    socket.on('error', () => undefined);
    socket.use(([event], next) => next(event === 'count:refused' ? new Error('refused') : undefined));
  }

  @SubscribeMessage('count') count() {
    this.received += 1;
    return this.received;
  }

  @SubscribeMessage('count:refused') countRefused() {
    this.refusedReceived += 1;
    return this.refusedReceived;
  }
}

@Module({ providers: [CountingGateway] })
class CountingModule {}

describe('event dispatch (e2e)', () => {
  let running: RunningApp;
  let socket: ReturnType<typeof client>;

  beforeAll(async () => {
    running = await startApp({}, { imports: [WideModule] });
    socket = client(running.url, '/', { auth: { token: signToken() } });
    await connected(socket);
  });
  afterAll(async () => {
    socket.close();
    await running.close();
  });

  it('gives a socket one dispatcher, whatever the number of gateways and handlers', () => {
    const [serverSocket] = running.app.get(RealtimeServer).namespace('/').sockets.values();
    const perEventListeners = Array.from({ length: HANDLER_COUNT }, (_, index) =>
      serverSocket.listenerCount(`wide:${index}`),
    );
    expect(perEventListeners).toEqual(Array(HANDLER_COUNT).fill(0));
    expect(serverSocket.listenersAny()).toHaveLength(0);
    // Socket.IO keeps a socket's middlewares in `fns`: the gate, then the one dispatcher of
    // the namespace, however many gateways (sessions and this one) and handlers it routes to.
    expect((serverSocket as unknown as { fns: unknown[] }).fns).toHaveLength(2);
  });

  it('runs pipes, interceptors and filters through the dispatcher', async () => {
    expect(await socket.emitWithAck('wide:0', { n: 21 })).toEqual({ ok: true, data: { doubled: 42 } });
    expect(await socket.emitWithAck('wide:0', { n: -1 })).toEqual({
      ok: false,
      error: { code: 'VALIDATION_FAILED', message: expect.stringContaining('n'), details: expect.any(Array) },
    });
    expect(await socket.emitWithAck('wide:1', {})).toEqual({
      ok: false,
      error: { code: 'CONFLICT', message: 'already done' },
    });
    expect(await socket.emitWithAck('wide:2', {})).toEqual({
      ok: false,
      error: { code: 'INTERNAL', message: 'Internal server error' },
    });
    expect(await socket.emitWithAck('wide:9', {})).toEqual({ ok: true, data: 9 });
    expect(await socket.emitWithAck('ping', {})).toEqual({ ok: true, data: { pong: expect.any(String) } });
  });
});

describe('event dispatch behind the per-socket gate (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(
      { RATE_LIMIT_EVENTS_PER_S: '3', RATE_LIMIT_FLOOD_SECONDS: '100' },
      { imports: [CountingModule] },
    );
  });
  afterAll(() => running.close());

  it('never runs a handler for an event the gate refused', async () => {
    const socket = client(running.url, '/', { auth: { token: signToken() } });
    await connected(socket);
    const acks = (await Promise.all(Array.from({ length: 6 }, () => socket.emitWithAck('count', {})))) as {
      ok: boolean;
      error?: { code: string };
    }[];
    socket.close();
    expect(acks.filter((ack) => ack.ok)).toHaveLength(3);
    expect(acks.filter((ack) => !ack.ok).map((ack) => ack.error?.code)).toEqual(
      Array(3).fill('RATE_LIMITED'),
    );
    expect(running.app.get(CountingGateway).received).toBe(3);
  });

  it('never runs a handler for an event a middleware of the app refused', async () => {
    const socket = client(running.url, '/', { auth: { token: signToken() } });
    await connected(socket);
    const gateway = running.app.get(CountingGateway);
    const before = gateway.received;
    socket.emit('count:refused', {});
    // Events of a socket are handled in order: once this ack is back, the refused one was seen.
    expect(await socket.emitWithAck('count', {})).toEqual({ ok: true, data: before + 1 });
    socket.close();
    expect(gateway.refusedReceived).toBe(0);
  });
});
