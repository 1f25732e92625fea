import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { AdminEvent, type AuditPage } from '../../src/admin/admin.events.js';
import { ChatEvent } from '../../src/chat/chat.events.js';
import type { Chat, ChatMessage, MessagePage } from '../../src/chat/chat.types.js';
import type { ErrorBody } from '../../src/common/errors.js';
import { NotificationsEvent, type NotificationPage } from '../../src/notifications/notifications.events.js';
import { PresenceEvent } from '../../src/presence/presence.events.js';
import { SessionsEvent } from '../../src/sessions/sessions.events.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, nextEvent } from '../support/clients.js';
import { itemAt } from '../support/items.js';
import {
  CLIENT_EVENTS,
  CLIENT_EVENT_TABLE,
  DEEP_NESTING,
  deepValue,
  expectationFor,
  HUGE_STRING,
  malformedPayloads,
  unknownEvents,
  type EventRow,
  type Expectation,
  type MatrixFixture,
  type MatrixNamespace,
} from '../support/security.js';
import { signToken } from '../support/tokens.js';

/** Generous for a busy machine; only a missing answer ever waits this long. */
const ANSWER_TIMEOUT_MS = 5000;
const USER = 'matrix-user';
const PEER = 'matrix-peer';
/** Admin, so that admin-only events get past the role check and reach validation. */
const ROLES = ['admin'];

type Reply = { ok: boolean; data?: unknown; error?: ErrorBody };
const NAMESPACES = Object.keys(CLIENT_EVENT_TABLE) as MatrixNamespace[];

describe('malformed payloads on every client → server event (security)', () => {
  let running: RunningApp;
  let fixture: MatrixFixture;
  let storedMessages: ChatMessage[];
  let storedChat: Chat;
  const sockets: Socket[] = [];

  const http = () => request(running.app.getHttpServer());
  const bearer = (userId: string, roles: string[] = []) => ({
    Authorization: `Bearer ${signToken({ sub: userId, roles })}`,
  });

  /** A socket of the matrix user on `namespace`, with every `exception` it receives recorded. */
  async function openSocket(
    namespace: MatrixNamespace,
  ): Promise<{ socket: Socket; exceptions: ErrorBody[] }> {
    const socket = client(running.url, namespace, {
      auth: { token: signToken({ sub: USER, roles: ROLES }) },
    });
    sockets.push(socket);
    const exceptions: ErrorBody[] = [];
    socket.on('exception', (error: ErrorBody) => exceptions.push(error));
    await connected(socket);
    return { socket, exceptions };
  }

  /** A request that succeeds on each namespace: proof that the socket still works. */
  const FOLLOW_UPS: Record<MatrixNamespace, (socket: Socket) => Promise<void>> = {
    '/': async (socket) => {
      const reply = await ask(socket, SessionsEvent.Ping, [{}]);
      expect(reply).toEqual({ ok: true, data: { pong: expect.any(String) } });
    },
    '/chat': async (socket) => {
      const reply = await ask(socket, ChatEvent.Sync, [{ chatId: fixture.chatId, afterMessageId: 0 }]);
      expect(reply).toEqual({ ok: true, data: { messages: expect.any(Array), hasMore: false } });
    },
    '/presence': async (socket) => {
      const reply = await ask(socket, PresenceEvent.Query, [{ userIds: [USER] }]);
      expect(reply).toEqual({
        ok: true,
        data: [expect.objectContaining({ userId: USER, online: true, connections: expect.any(Number) })],
      });
    },
    '/admin': async (socket) => {
      const reply = await ask(socket, AdminEvent.GetStats, [{}]);
      expect(reply).toEqual({ ok: true, data: expect.objectContaining({ server: expect.any(Object) }) });
    },
    '/notifications': async (socket) => {
      const reply = await ask(socket, NotificationsEvent.List, [{ limit: 1 }]);
      expect(reply).toEqual({
        ok: true,
        data: {
          notifications: [expect.objectContaining({ id: fixture.notificationId, userId: USER })],
          hasMore: false,
          unreadCount: expect.any(Number),
        },
      });
    },
  };

  async function ask(socket: Socket, event: string, args: unknown[]): Promise<Reply> {
    try {
      return (await socket.timeout(ANSWER_TIMEOUT_MS).emitWithAck(event, ...args)) as Reply;
    } catch {
      throw new Error(`No ack to "${event}" within ${ANSWER_TIMEOUT_MS} ms`);
    }
  }

  function outcomeOf(reply: Reply): string {
    if (reply.ok === true) return 'ok';
    return reply.error?.code ?? `unrecognised reply ${JSON.stringify(reply)}`;
  }

  function expectAnswer(reply: Reply, expectation: Expectation): void {
    if (expectation === 'ok') {
      expect(reply).toEqual({ ok: true, data: expect.anything() });
    } else if (expectation === 'VALIDATION_FAILED') {
      expect(reply).toEqual({
        ok: false,
        error: expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.any(String) }),
      });
    } else {
      expect(['ok', 'VALIDATION_FAILED']).toContain(outcomeOf(reply));
    }
  }

  beforeAll(async () => {
    running = await startApp({
      RATE_LIMIT_EVENTS_PER_S: '0',
      RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
      RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
      RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
    });
    const created = await http()
      .post('/api/chats')
      .set(bearer(USER))
      .send({ participantIds: [PEER] });
    expect(created.status).toBe(201);
    const chatId = (created.body as { data: Chat }).data.id;
    const sent: ChatMessage[] = [];
    for (const content of ['first', 'second', 'third']) {
      const posted = await http().post(`/api/chats/${chatId}/messages`).set(bearer(USER)).send({ content });
      expect(posted.status).toBe(201);
      sent.push((posted.body as { data: ChatMessage }).data);
    }
    const notified = await http()
      .post('/api/notifications')
      .set(bearer('matrix-publisher', ['service']))
      .send({ userId: USER, title: 'fixture', body: 'for notification:read' });
    expect(notified.status).toBe(201);
    fixture = {
      chatId,
      messageId: itemAt(sent, 1).id,
      refreshToken: signToken({ sub: USER, roles: ROLES }),
      peerId: PEER,
      notificationId: (await inboxOf(USER)).notifications[0]!.id,
    };
    storedMessages = await messagesOf(chatId);
    storedChat = await chatOf(chatId);
    expect(storedMessages.map((message) => message.content)).toEqual(['first', 'second', 'third']);
  });

  afterAll(async () => {
    await closeAll(sockets);
    await running?.close();
  });

  async function messagesOf(chatId: string): Promise<ChatMessage[]> {
    const response = await http().get(`/api/chats/${chatId}/messages?limit=200`).set(bearer(PEER));
    expect(response.status).toBe(200);
    return (response.body as { data: MessagePage }).data.messages;
  }

  async function inboxOf(userId: string): Promise<NotificationPage> {
    const response = await http().get('/api/notifications').set(bearer(userId));
    expect(response.status).toBe(200);
    return (response.body as { data: NotificationPage }).data;
  }

  async function chatOf(chatId: string): Promise<Chat> {
    const response = await http().get(`/api/chats/${chatId}`).set(bearer(PEER));
    expect(response.status).toBe(200);
    return (response.body as { data: Chat }).data;
  }

  describe.each(CLIENT_EVENTS.map((row) => [`${row.namespace} ${row.event}`, row] as const))(
    '%s',
    (_title, row: EventRow) => {
      const cases = malformedPayloads(row);
      /** One socket per row and mode, so that a late answer can never be taken for another's. */
      const open: Partial<Record<'ack' | 'noAck', { socket: Socket; exceptions: ErrorBody[] }>> = {};
      const socketFor = async (mode: 'ack' | 'noAck') => {
        const current = open[mode];
        if (current?.socket.connected) return current;
        open[mode] = await openSocket(row.namespace);
        return open[mode];
      };

      it.each(cases.map((testCase) => [testCase.name, testCase] as const))(
        'with an ack: %s',
        async (_name, testCase) => {
          const { socket, exceptions } = await socketFor('ack');
          const before = exceptions.length;

          const reply = await ask(socket, row.event, testCase.args(fixture));

          expectAnswer(reply, expectationFor(row, testCase));
          await FOLLOW_UPS[row.namespace](socket);
          expect(socket.connected).toBe(true);
          // With an ack the answer goes to the ack, never (also) to `exception`.
          expect(exceptions.slice(before)).toEqual([]);
        },
      );

      it.each(cases.map((testCase) => [testCase.name, testCase] as const))(
        'without an ack: %s',
        async (_name, testCase) => {
          const { socket, exceptions } = await socketFor('noAck');
          const before = exceptions.length;
          const expectation = expectationFor(row, testCase);

          const exception =
            expectation === 'VALIDATION_FAILED'
              ? nextEvent<ErrorBody>(socket, 'exception', ANSWER_TIMEOUT_MS)
              : undefined;
          socket.emit(row.event, ...testCase.args(fixture));
          if (exception) {
            expect(await exception).toEqual(
              expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.any(String) }),
            );
          }

          await FOLLOW_UPS[row.namespace](socket);
          expect(socket.connected).toBe(true);
          const codes = exceptions.slice(before).map((error) => error.code);
          if (expectation === 'ok') expect(codes).toEqual([]);
          else expect(codes.filter((code) => code !== 'VALIDATION_FAILED')).toEqual([]);
        },
      );
    },
  );

  describe.each(NAMESPACES.map((namespace) => [namespace] as const))(
    '%s: an event no handler takes',
    (namespace) => {
      const cases = unknownEvents(namespace).map((unknown) => [unknown.name, unknown] as const);
      let open: { socket: Socket; exceptions: ErrorBody[] } | undefined;
      const socketFor = async () => {
        if (!open?.socket.connected) open = await openSocket(namespace);
        return open;
      };

      it.each(cases)('with an ack: %s answers NOT_FOUND', async (_name, { event }) => {
        const { socket, exceptions } = await socketFor();
        const before = exceptions.length;

        for (const args of [[], [{}], [null, 'two']]) {
          const reply = await ask(socket, event as string, args);
          expect(reply).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: expect.any(String) } });
          // The answer names the event, never more than a short part of it.
          expect(reply.error?.message.length).toBeLessThan(200);
        }
        // The gate still comes first: a payload it refuses is refused whatever the event.
        expect(outcomeOf(await ask(socket, event as string, [deepValue(DEEP_NESTING, 'object')]))).toBe(
          'VALIDATION_FAILED',
        );

        await FOLLOW_UPS[namespace](socket);
        expect(socket.connected).toBe(true);
        expect(exceptions.slice(before)).toEqual([]);
      });

      it.each(cases)('without an ack: %s is ignored', async (_name, { event }) => {
        const { socket, exceptions } = await socketFor();
        const before = exceptions.length;

        socket.emit(event as string);
        socket.emit(event as string, {});
        socket.emit(event as string, HUGE_STRING, 'two');

        // Events of a socket are handled in order: once this answers, the others were seen.
        await FOLLOW_UPS[namespace](socket);
        expect(socket.connected).toBe(true);
        expect(exceptions.slice(before)).toEqual([]);
      });
    },
  );

  describe('afterwards', () => {
    it('left the messages and the chat exactly as they were', async () => {
      expect(await messagesOf(fixture.chatId)).toEqual(storedMessages);
      expect(await chatOf(fixture.chatId)).toEqual(storedChat);
    });

    it("left the matrix user's inbox holding only its one notification", async () => {
      const inbox = await inboxOf(USER);
      expect(inbox.notifications.map((notification) => notification.id)).toEqual([fixture.notificationId]);
      expect((await inboxOf(PEER)).notifications).toEqual([]);
    });

    it('recorded no admin action: nothing was disconnected, broadcast or revoked', async () => {
      const response = await http().get('/api/admin/audit').set(bearer(USER, ROLES));
      expect(response.status).toBe(200);
      expect((response.body as { data: AuditPage }).data).toEqual({ entries: [], hasMore: false });
    });

    it('left Object.prototype unpolluted', () => {
      const probe: Record<string, unknown> = {};
      expect(probe.admin).toBeUndefined();
      expect(probe.roles).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('admin');
    });

    it('did not grant admin to a user without the role', async () => {
      const socket = client(running.url, '/', { auth: { token: signToken({ sub: PEER }) } });
      sockets.push(socket);
      await connected(socket);
      const reply = await ask(socket, SessionsEvent.List, [{}]);
      expect(outcomeOf(reply)).toBe('FORBIDDEN');
    });

    it('still answers GET /api/health', async () => {
      const response = await http().get('/api/health');
      expect(response.status).toBe(200);
    });
  });
});
