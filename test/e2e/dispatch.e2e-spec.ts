import { Body, Controller, Module, Post } from '@nestjs/common';
import { MetadataScanner } from '@nestjs/core';
import { MessageBody, SubscribeMessage, type OnGatewayConnection } from '@nestjs/websockets';
import { GatewayMetadataExplorer } from '@nestjs/websockets/gateway-metadata-explorer.js';
import {
  IsInt,
  Min,
  Validate,
  ValidatorConstraint,
  type ValidatorConstraintInterface,
} from 'class-validator';
import { once } from 'node:events';
import { Observable } from 'rxjs';
import type { Socket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import request from 'supertest';
import { AuthEvent } from '../../src/auth/auth.events.js';
import { ChatGateway } from '../../src/chat/chat.gateway.js';
import { CHAT_NAMESPACE, ChatEvent } from '../../src/chat/chat.events.js';
import { AppError, type ErrorBody } from '../../src/common/errors.js';
import { RealtimeGateway } from '../../src/realtime/realtime-gateway.decorator.js';
import { RealtimeServer } from '../../src/realtime/realtime-server.js';
import { SessionsGateway } from '../../src/sessions/sessions.gateway.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, nextEvent } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

/** Bounds a wait for an answer that must come; only a missing answer ever waits this long. */
const ANSWER_TIMEOUT_MS = 3000;

type Reply = { ok: boolean; data?: unknown; error?: ErrorBody };
type Middleware = (packet: unknown[], next: (error?: Error) => void) => void;

class CountDto {
  @IsInt()
  @Min(0)
  n!: number;
}

/** Socket.IO keeps a socket's middlewares in `fns`, in the order they run. */
function middlewaresOf(socket: Socket): Middleware[] {
  return (socket as unknown as { fns: Middleware[] }).fns;
}

/** Every validation pass over a `CountedDto` adds one. */
let validationPasses = 0;

@ValidatorConstraint({ name: 'countedLabel' })
class CountedLabel implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    validationPasses += 1;
    return typeof value === 'string' && value.length > 0;
  }
  defaultMessage(): string {
    return 'label must be a non-empty string';
  }
}

class CountedDto {
  @Validate(CountedLabel)
  label!: string;
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

/**
 * What a host application does on its sockets: a middleware added only after an `await` in
 * `handleConnection` (announced with `host:ready`), a listener of its own, a handler answering
 * with an Observable that never completes, and a DTO whose validations are counted.
 */
@RealtimeGateway('/')
class HostGateway implements OnGatewayConnection<Socket> {
  guardedReceived = 0;
  /** What saw each `late:seen` event, in order: the late middleware, then the handler. */
  readonly seen: string[] = [];
  streamsOpened = 0;
  streamsClosed = 0;
  /** Per socket id: its late middleware, and its middlewares right after it was added. */
  readonly late = new Map<string, { middleware: Middleware; middlewaresThen: Middleware[] }>();

  async handleConnection(socket: Socket): Promise<void> {
    socket.on('host:listener', (...args: unknown[]) => {
      const ack = args.at(-1);
      if (typeof ack === 'function') (ack as (reply: unknown) => void)({ ok: true, data: 'heard' });
    });
    await new Promise((resolve) => setImmediate(resolve));
    const late: Middleware = (packet, next) => {
      const [event] = packet;
      const ack = packet.at(-1);
      if (event === 'late:guarded') {
        if (typeof ack === 'function') {
          (ack as (reply: unknown) => void)({
            ok: false,
            error: { code: 'FORBIDDEN', message: 'refused by a late middleware' },
          });
        }
        return;
      }
      if (event === 'late:seen') this.seen.push('middleware');
      next();
    };
    socket.use(late);
    this.late.set(socket.id, { middleware: late, middlewaresThen: [...middlewaresOf(socket)] });
    socket.emit('host:ready');
  }

  @SubscribeMessage('late:guarded') guarded() {
    this.guardedReceived += 1;
    return 'handled';
  }

  @SubscribeMessage('late:seen') lateSeen() {
    this.seen.push('handler');
    return this.seen.length;
  }

  @SubscribeMessage('stream:open') open(): Observable<string> {
    return new Observable<string>((subscriber) => {
      this.streamsOpened += 1;
      subscriber.next('opened');
      return () => {
        this.streamsClosed += 1;
      };
    });
  }

  @SubscribeMessage('validated') validated(@MessageBody() body: CountedDto) {
    return body.label;
  }
}

@Controller('api/host')
class HostController {
  @Post('validated')
  validated(@Body() body: CountedDto) {
    return { label: body.label };
  }
}

@Module({ providers: [WideGateway, HostGateway], controllers: [HostController] })
class HostModule {}

/** The events of every `@SubscribeMessage` handler of a gateway, read as Nest reads them. */
function handledEvents(gateway: object): string[] {
  return new GatewayMetadataExplorer(new MetadataScanner())
    .explore(gateway as never)
    .map(({ message }) => String(message));
}

/** A socket of the host app that has added its late middleware. */
async function readySocket(url: string, namespace = '/'): Promise<ClientSocket> {
  const socket = client(url, namespace, { auth: { token: signToken() } });
  const ready = namespace === '/' ? nextEvent(socket, 'host:ready') : undefined;
  await connected(socket);
  await ready;
  return socket;
}

async function ask(socket: ClientSocket, event: string, ...args: unknown[]): Promise<Reply> {
  return (await socket.timeout(ANSWER_TIMEOUT_MS).emitWithAck(event, ...args)) as Reply;
}

describe('event dispatch (e2e)', () => {
  let running: RunningApp;
  const sockets: ClientSocket[] = [];
  let socket: ClientSocket;

  const serverSocketOf = (clientSocket: ClientSocket, namespace = '/'): Socket => {
    const found = running.app
      .get(RealtimeServer)
      .namespace(namespace)
      .sockets.get(clientSocket.id ?? '');
    if (!found) throw new Error(`No server socket for ${clientSocket.id} on ${namespace}`);
    return found;
  };
  const open = async (namespace = '/') => {
    const opened = await readySocket(running.url, namespace);
    sockets.push(opened);
    return opened;
  };

  beforeAll(async () => {
    running = await startApp({}, { imports: [HostModule] });
    socket = await open();
  });
  afterAll(async () => {
    await closeAll(sockets);
    await running.close();
  });

  describe('one dispatcher per socket instead of Nest’s per-socket binding', () => {
    it('binds no gateway handler to a socket, on any namespace', async () => {
      const chat = await open(CHAT_NAMESPACE);
      const byNamespace = [
        {
          socket: serverSocketOf(socket),
          gateways: [SessionsGateway, WideGateway, HostGateway],
        },
        { socket: serverSocketOf(chat, CHAT_NAMESPACE), gateways: [ChatGateway] },
      ];
      for (const { socket: serverSocket, gateways } of byNamespace) {
        const events = gateways.flatMap((type) => handledEvents(running.app.get(type)));
        expect(events.length).toBeGreaterThan(0);
        // Nest's own binding (`IoAdapter.bindMessageHandlers`) adds one listener per handler:
        // any of them here means the dispatcher was bypassed.
        expect(events.filter((event) => serverSocket.listenerCount(event) > 0)).toEqual([]);
        expect(serverSocket.listenersAny()).toHaveLength(0);
      }
      // …and the handlers still answer: each namespace's table knows its gateways.
      expect(await ask(socket, 'wide:3', {})).toEqual({ ok: true, data: 3 });
      expect(await ask(chat, ChatEvent.Sync, {})).toEqual({
        ok: false,
        error: expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      });
    });

    it('keeps the dispatcher last, behind the gate and a middleware added after an await', () => {
      const serverSocket = serverSocketOf(socket);
      const late = running.app.get(HostGateway).late.get(serverSocket.id);
      const middlewares = middlewaresOf(serverSocket);
      // The per-socket gate, the gateway's late middleware, the one dispatcher; however many
      // gateways (sessions, wide, host) and handlers it routes to.
      expect(middlewares).toHaveLength(3);
      expect(middlewares[1]).toBe(late?.middleware);
      expect(late?.middlewaresThen).toEqual(middlewares);
    });
  });

  it('runs pipes, interceptors and filters through the dispatcher', async () => {
    expect(await ask(socket, 'wide:0', { n: 21 })).toEqual({ ok: true, data: { doubled: 42 } });
    expect(await ask(socket, 'wide:0', { n: -1 })).toEqual({
      ok: false,
      error: { code: 'VALIDATION_FAILED', message: expect.stringContaining('n'), details: expect.any(Array) },
    });
    expect(await ask(socket, 'wide:1', {})).toEqual({
      ok: false,
      error: { code: 'CONFLICT', message: 'already done' },
    });
    expect(await ask(socket, 'wide:2', {})).toEqual({
      ok: false,
      error: { code: 'INTERNAL', message: 'Internal server error' },
    });
    expect(await ask(socket, 'wide:9', {})).toEqual({ ok: true, data: 9 });
    expect(await ask(socket, 'ping', {})).toEqual({ ok: true, data: { pong: expect.any(String) } });
  });

  describe('a middleware a gateway adds after an await in handleConnection', () => {
    it('refuses an event before any handler runs', async () => {
      const gateway = running.app.get(HostGateway);
      const before = gateway.guardedReceived;

      expect(await ask(socket, 'late:guarded', {})).toEqual({
        ok: false,
        error: { code: 'FORBIDDEN', message: 'refused by a late middleware' },
      });
      // Events of a socket are handled in order: once this ack is back, the refused one was seen.
      expect(await ask(socket, 'ping', {})).toEqual({ ok: true, data: { pong: expect.any(String) } });
      expect(gateway.guardedReceived).toBe(before);
    });

    it('sees an event it lets through before the handler does', async () => {
      const gateway = running.app.get(HostGateway);
      gateway.seen.length = 0;
      expect(await ask(socket, 'late:seen', {})).toEqual({ ok: true, data: 2 });
      expect(gateway.seen).toEqual(['middleware', 'handler']);
    });
  });

  it('unsubscribes an Observable answer when its socket disconnects', async () => {
    const gateway = running.app.get(HostGateway);
    const streaming = await open();
    const opened = gateway.streamsOpened;
    const closed = gateway.streamsClosed;

    expect(await ask(streaming, 'stream:open', {})).toEqual({ ok: true, data: 'opened' });
    expect(gateway.streamsOpened).toBe(opened + 1);
    expect(gateway.streamsClosed).toBe(closed);

    const serverSocket = serverSocketOf(streaming);
    const gone = once(serverSocket, 'disconnect');
    streaming.close();
    await gone;
    expect(gateway.streamsClosed).toBe(closed + 1);
  });

  describe('validation', () => {
    it('validates an event once', async () => {
      const before = validationPasses;
      expect(await ask(socket, 'validated', { label: 'once' })).toEqual({ ok: true, data: 'once' });
      expect(validationPasses - before).toBe(1);
    });

    it('validates a refused event once, and still refuses it', async () => {
      const before = validationPasses;
      expect(await ask(socket, 'validated', { label: '' })).toEqual({
        ok: false,
        error: expect.objectContaining({
          code: 'VALIDATION_FAILED',
          message: expect.stringContaining('label'),
        }),
      });
      expect(validationPasses - before).toBe(1);
    });

    it('validates a REST body of the host app once, and still refuses a bad one', async () => {
      const http = () =>
        request(running.app.getHttpServer())
          .post('/api/host/validated')
          .set('Authorization', `Bearer ${signToken()}`);
      let before = validationPasses;
      const accepted = await http().send({ label: 'rest' });
      expect(accepted.status).toBe(201);
      expect(validationPasses - before).toBe(1);

      before = validationPasses;
      const refused = await http().send({ label: '', extra: true });
      expect(refused.status).toBe(400);
      expect(validationPasses - before).toBe(1);
    });
  });

  describe('an event no handler knows', () => {
    it('answers NOT_FOUND through its ack, on every namespace', async () => {
      const chat = await open(CHAT_NAMESPACE);
      for (const target of [socket, chat]) {
        expect(await ask(target, 'no:such:event', {})).toEqual({
          ok: false,
          error: { code: 'NOT_FOUND', message: expect.stringContaining('no:such:event') },
        });
        expect(await ask(target, 'no:such:event')).toEqual({
          ok: false,
          error: expect.objectContaining({ code: 'NOT_FOUND' }),
        });
      }
    });

    it('is ignored without an ack: no exception, and the socket goes on', async () => {
      const quiet = await open();
      const exceptions: unknown[] = [];
      quiet.on('exception', (error: unknown) => exceptions.push(error));
      quiet.emit('no:such:event', {});
      quiet.emit('no:such:event');
      expect(await ask(quiet, 'ping', {})).toEqual({ ok: true, data: { pong: expect.any(String) } });
      expect(exceptions).toEqual([]);
      expect(quiet.connected).toBe(true);
    });

    it('leaves alone the events that listeners of the socket take (auth:refresh, a host’s own)', async () => {
      expect(await ask(socket, AuthEvent.Refresh, { token: signToken() })).toEqual({
        ok: true,
        data: { expiresAt: expect.any(String) },
      });
      expect(await ask(socket, 'host:listener', {})).toEqual({ ok: true, data: 'heard' });
    });
  });
});

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

  it('refuses an unknown event at the gate first, as any event', async () => {
    const socket = client(running.url, '/', { auth: { token: signToken() } });
    await connected(socket);
    const replies = (await Promise.all(
      Array.from({ length: 4 }, () => socket.timeout(ANSWER_TIMEOUT_MS).emitWithAck('no:such:event', {})),
    )) as Reply[];
    socket.close();
    expect(replies.map((reply) => reply.error?.code)).toEqual([
      'NOT_FOUND',
      'NOT_FOUND',
      'NOT_FOUND',
      'RATE_LIMITED',
    ]);
  });
});
