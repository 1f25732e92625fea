import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import {
  ChatEvent,
  ChatLimits,
  type ChatClientToServerEvents,
  type ChatList,
  type ChatServerToClientEvents,
} from '../../src/chat/chat.events.js';
import type { Chat, ChatMessage, ChatSummary, MessagePage } from '../../src/chat/chat.types.js';
import { DatabaseService } from '../../src/database/database.service.js';
import type { AckResponse } from '../../src/common/envelope.js';
import { startApp, type RunningApp } from '../support/app.js';
import { ChatInbox } from '../support/chat-inbox.js';
import { client, closeAll, connected, refused } from '../support/clients.js';
import { itemAt } from '../support/items.js';
import { signToken } from '../support/tokens.js';

type ChatSocket = Socket<ChatServerToClientEvents, ChatClientToServerEvents>;
type Failure = { ok: false; error: { code: string; message: string; details?: unknown } };

const MAX_CONTENT = 500;
/** Short, so that a typing state lapses within the test; still far above a local round trip. */
const TYPING_IDLE_MS = 500;
const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const TEST_ENV = {
  CHAT_MAX_CONTENT: String(MAX_CONTENT),
  CHAT_TYPING_IDLE_MS: String(TYPING_IDLE_MS),
  RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
  RATE_LIMIT_EVENTS_PER_S: '0',
};

const newUser = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
/** A REST body, typed by the test that reads it. */
const body = <T>(response: { body: unknown }) => response.body as T;
/** The `data` of a REST success body, typed by the test that reads it. */
const dataOf = <T = unknown>(response: { body: unknown }) => body<{ data: T }>(response).data;
const bearer = (userId: string, roles: string[] = []) => ({
  Authorization: `Bearer ${signToken({ sub: userId, roles })}`,
});

/** `U+200B U+0020`: readable in a test title, where the characters themselves would not be. */
const codePoints = (text: string) =>
  [...text].map((char) => `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`).join(' ');

function expectOk<T>(ack: AckResponse<T>): T {
  if (!ack.ok) throw new Error(`Expected success, got ${JSON.stringify(ack.error)}`);
  return ack.data;
}

function expectFailure(ack: unknown, code: string): Failure['error'] {
  expect(ack).toEqual({ ok: false, error: expect.objectContaining({ code, message: expect.any(String) }) });
  return (ack as Failure).error;
}

describe('chat (e2e)', () => {
  let running: RunningApp;
  const sockets: ChatSocket[] = [];

  const http = () => request(running.app.getHttpServer());

  async function join(userId: string, roles: string[] = []): Promise<ChatSocket> {
    const socket = client(running.url, '/chat', {
      auth: { token: signToken({ sub: userId, roles }) },
    }) as ChatSocket;
    sockets.push(socket);
    await connected(socket);
    return socket;
  }

  /** For payloads the typed map would refuse. */
  function askRaw(socket: ChatSocket, event: string, payload: unknown): Promise<unknown> {
    return (socket as Socket).emitWithAck(event, payload);
  }

  async function createChat(creator: string, others: string[], title?: string): Promise<Chat> {
    const response = await http()
      .post('/api/chats')
      .set(bearer(creator))
      .send({ participantIds: others, ...(title === undefined ? {} : { title }) });
    expect(response.status).toBe(201);
    return dataOf<Chat>(response);
  }

  async function send(socket: ChatSocket, chatId: string, content: string, clientId?: string) {
    return expectOk(await socket.emitWithAck(ChatEvent.SendMessage, { chatId, content, clientId }));
  }

  async function post(userId: string, chatId: string, content: string): Promise<ChatMessage> {
    const response = await http().post(`/api/chats/${chatId}/messages`).set(bearer(userId)).send({ content });
    expect(response.status).toBe(201);
    return dataOf<ChatMessage>(response);
  }

  async function listMessages(userId: string, chatId: string, query = ''): Promise<MessagePage> {
    const response = await http().get(`/api/chats/${chatId}/messages${query}`).set(bearer(userId));
    expect(response.status).toBe(200);
    return dataOf<MessagePage>(response);
  }

  async function summaryOf(userId: string, chatId: string): Promise<ChatSummary | undefined> {
    const response = await http().get('/api/chats').set(bearer(userId));
    expect(response.status).toBe(200);
    return dataOf<ChatList>(response).chats.find((chat) => chat.id === chatId);
  }

  beforeAll(async () => {
    running = await startApp(TEST_ENV);
  });
  afterEach(async () => {
    await closeAll(sockets);
  });
  afterAll(() => running.close());

  describe('membership and rooms', () => {
    it('joins the rooms of its chats before `authenticated`, so the first message reaches it', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const chat = await createChat(alice, [bob]);
      const bobSocket = await join(bob);
      const bobInbox = new ChatInbox(bobSocket);

      const sent = await post(alice, chat.id, 'hello');

      const received = await bobInbox.waitFor(ChatEvent.NewMessage);
      expect(received).toEqual({
        type: 'message:new',
        data: sent,
        timestamp: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(sent).toEqual({
        id: expect.any(Number),
        chatId: chat.id,
        seq: 1,
        senderId: alice,
        content: 'hello',
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
      });
    });

    it('tells every participant of a new chat, creator included, and puts their live sockets in its room', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const aliceInbox = new ChatInbox(await join(alice));
      const bobPhone = new ChatInbox(await join(bob));
      const bobLaptop = new ChatInbox(await join(bob));

      const chat = await createChat(alice, [bob, bob], 'Launch');

      expect(chat).toEqual({
        id: expect.any(String),
        title: 'Launch',
        participantIds: expect.arrayContaining([alice, bob]),
        createdBy: alice,
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(chat.participantIds).toHaveLength(2);
      for (const inbox of [aliceInbox, bobPhone, bobLaptop]) {
        expect((await inbox.waitFor(ChatEvent.ChatCreated)).data).toEqual(chat);
      }
      const sent = await post(alice, chat.id, 'first');
      for (const inbox of [aliceInbox, bobPhone, bobLaptop]) {
        expect((await inbox.waitFor(ChatEvent.NewMessage)).data).toEqual(sent);
      }
    });

    it('adds a member to the rooms of all their sockets, removes them from it, and tells the chat', async () => {
      const [alice, bob, carol] = [newUser('alice'), newUser('bob'), newUser('carol')];
      const chat = await createChat(alice, [bob]);
      const side = await createChat(alice, [carol]);
      const aliceSocket = await join(alice);
      const bobInbox = new ChatInbox(await join(bob));
      const carolPhone = new ChatInbox(await join(carol));
      const carolLaptop = new ChatInbox(await join(carol));

      const added = await http()
        .post(`/api/chats/${chat.id}/members`)
        .set(bearer(bob))
        .send({ userId: carol });

      expect(added.status).toBe(200);
      expect(added.body).toEqual({ message: 'Member added', data: expect.objectContaining({ id: chat.id }) });
      expect(dataOf<Chat>(added).participantIds).toEqual(expect.arrayContaining([alice, bob, carol]));
      for (const inbox of [bobInbox, carolPhone, carolLaptop]) {
        const event = await inbox.waitFor(ChatEvent.MemberAdded);
        expect(event.data).toEqual({ chatId: chat.id, userId: carol, addedBy: bob, chat: dataOf(added) });
      }
      const welcome = await send(aliceSocket, chat.id, 'welcome');
      for (const inbox of [carolPhone, carolLaptop]) {
        expect((await inbox.waitFor(ChatEvent.NewMessage)).data).toEqual(welcome);
      }

      const again = await http()
        .post(`/api/chats/${chat.id}/members`)
        .set(bearer(bob))
        .send({ userId: carol });
      expect(again.status).toBe(200);
      expect(body<{ message: string }>(again).message).toBe('Already a member');

      const removed = await http().delete(`/api/chats/${chat.id}/members/${carol}`).set(bearer(alice));
      expect(removed.status).toBe(200);
      expect(dataOf(removed)).toEqual({ chatId: chat.id, userId: carol, removedBy: alice });
      for (const inbox of [bobInbox, carolPhone, carolLaptop]) {
        expect((await inbox.waitFor(ChatEvent.MemberRemoved)).data).toEqual(dataOf(removed));
      }

      const unseen = await send(aliceSocket, chat.id, 'carol is gone');
      const marker = await send(aliceSocket, side.id, 'marker');
      for (const inbox of [carolPhone, carolLaptop]) {
        await inbox.waitFor(ChatEvent.NewMessage, (message) => message.id === marker.id);
        expect(inbox.of(ChatEvent.NewMessage).map((event) => event.data.id)).not.toContain(unseen.id);
        expect(inbox.of(ChatEvent.MemberAdded)).toHaveLength(1);
      }
      expect(
        (await bobInbox.waitFor(ChatEvent.NewMessage, (message) => message.id === unseen.id)).data,
      ).toEqual(unseen);
    });

    it('lets members leave, the creator and admins remove others, and nobody else', async () => {
      const [alice, bob, carol, dave] = [newUser('alice'), newUser('bob'), newUser('carol'), newUser('dave')];
      const chat = await createChat(alice, [bob, carol, dave]);
      const remove = (userId: string, by: string, roles: string[] = []) =>
        http().delete(`/api/chats/${chat.id}/members/${userId}`).set(bearer(by, roles));

      expect((await remove(carol, bob)).status).toBe(403);
      expect((await remove(bob, bob)).status).toBe(200);
      expect((await remove(bob, alice)).status).toBe(404);
      expect((await remove(carol, newUser('root'), ['admin'])).status).toBe(200);
      expect((await remove(dave, alice)).status).toBe(200);
      const remaining = await http().get(`/api/chats/${chat.id}`).set(bearer(alice));
      expect(dataOf<Chat>(remaining).participantIds).toEqual([alice]);
    });

    it('answers a chat to its participants and the same 404 for a stranger and an unknown id', async () => {
      const [alice, eve] = [newUser('alice'), newUser('eve')];
      const chat = await createChat(alice, []);

      const own = await http().get(`/api/chats/${chat.id}`).set(bearer(alice));
      const foreign = await http().get(`/api/chats/${chat.id}`).set(bearer(eve));
      const unknownId = randomUUID();
      const unknown = await http().get(`/api/chats/${unknownId}`).set(bearer(eve));

      expect(own.status).toBe(200);
      expect(dataOf(own)).toEqual({ ...chat, participantIds: [alice] });
      expect(foreign.status).toBe(404);
      expect(unknown.status).toBe(404);
      expect(foreign.body).toEqual({
        statusCode: 404,
        error: 'Not Found',
        code: 'NOT_FOUND',
        message: `Chat ${chat.id} not found`,
      });
      expect(unknown.body).toEqual({
        statusCode: 404,
        error: 'Not Found',
        code: 'NOT_FOUND',
        message: `Chat ${unknownId} not found`,
      });
    });
  });

  describe('non-members', () => {
    it('are refused every socket event exactly like an unknown chat, and nothing is stored', async () => {
      const [alice, bob, eve] = [newUser('alice'), newUser('bob'), newUser('eve')];
      const chat = await createChat(alice, [bob]);
      const message = await post(alice, chat.id, 'private');
      const eveSocket = await join(eve);
      const bobInbox = new ChatInbox(await join(bob));

      for (const chatId of [chat.id, randomUUID()]) {
        expectFailure(
          await eveSocket.emitWithAck(ChatEvent.SendMessage, { chatId, content: 'hi' }),
          'NOT_FOUND',
        );
        expectFailure(await eveSocket.emitWithAck(ChatEvent.Sync, { chatId }), 'NOT_FOUND');
        expectFailure(await eveSocket.emitWithAck(ChatEvent.Typing, { chatId }), 'NOT_FOUND');
        expectFailure(await eveSocket.emitWithAck(ChatEvent.StopTyping, { chatId }), 'NOT_FOUND');
        expectFailure(
          await eveSocket.emitWithAck(ChatEvent.Read, { chatId, messageId: message.id }),
          'NOT_FOUND',
        );
      }
      for (const messageId of [message.id, message.id + 1_000_000]) {
        const edit = expectFailure(
          await eveSocket.emitWithAck(ChatEvent.EditMessage, { messageId, content: 'x' }),
          'NOT_FOUND',
        );
        expect(edit.message).toBe(`Message ${messageId} not found`);
        expectFailure(await eveSocket.emitWithAck(ChatEvent.DeleteMessage, { messageId }), 'NOT_FOUND');
      }

      const marker = await post(alice, chat.id, 'marker');
      await bobInbox.waitFor(ChatEvent.NewMessage, (received) => received.id === marker.id);
      expect(bobInbox.received.map((entry) => entry.event)).toEqual([ChatEvent.NewMessage]);
      expect((await listMessages(alice, chat.id)).messages).toEqual([message, marker]);
      expect(eveSocket.connected).toBe(true);
    });

    it('are refused every REST route with 404, as for an unknown chat', async () => {
      const [alice, bob, eve] = [newUser('alice'), newUser('bob'), newUser('eve')];
      const chat = await createChat(alice, [bob]);
      const message = await post(alice, chat.id, 'private');

      for (const chatId of [chat.id, randomUUID()]) {
        const base = `/api/chats/${chatId}`;
        const attempts: Record<string, () => request.Test> = {
          'GET chat': () => http().get(base),
          'GET messages': () => http().get(`${base}/messages`),
          'GET messages after': () => http().get(`${base}/messages?after=0`),
          'POST message': () => http().post(`${base}/messages`).send({ content: 'hi' }),
          'PATCH message': () => http().patch(`${base}/messages/${message.id}`).send({ content: 'hacked' }),
          'DELETE message': () => http().delete(`${base}/messages/${message.id}`),
          'POST read': () => http().post(`${base}/read`).send({ messageId: message.id }),
          'POST member': () => http().post(`${base}/members`).send({ userId: eve }),
          'DELETE member': () => http().delete(`${base}/members/${bob}`),
        };
        const statuses: Record<string, number> = {};
        for (const [route, attempt] of Object.entries(attempts)) {
          statuses[route] = (await attempt().set(bearer(eve))).status;
        }
        expect(statuses).toEqual(Object.fromEntries(Object.keys(attempts).map((route) => [route, 404])));
      }
      expect((await listMessages(alice, chat.id)).messages).toEqual([message]);
      const stillPrivate = await http().get(`/api/chats/${chat.id}`).set(bearer(alice));
      expect(dataOf<Chat>(stillPrivate).participantIds).not.toContain(eve);
    });
  });

  describe('messages', () => {
    it('stores messages with increasing ids and broadcasts each once stored', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const chat = await createChat(alice, [bob]);
      const aliceSocket = await join(alice);
      const bobInbox = new ChatInbox(await join(bob));

      const [one, two, three] = [
        await send(aliceSocket, chat.id, 'one'),
        await send(aliceSocket, chat.id, 'two'),
        await send(aliceSocket, chat.id, 'three'),
      ];

      expect(one.id).toBeLessThan(two.id);
      expect(two.id).toBeLessThan(three.id);
      await bobInbox.waitFor(ChatEvent.NewMessage, (message) => message.id === three.id);
      expect(bobInbox.of(ChatEvent.NewMessage).map((event) => event.data)).toEqual([one, two, three]);
      expect((await listMessages(bob, chat.id)).messages).toEqual([one, two, three]);
    });

    it('lets only the sender edit, keeps editedAt and broadcasts the edit', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const chat = await createChat(alice, [bob]);
      const aliceSocket = await join(alice);
      const bobSocket = await join(bob);
      const bobInbox = new ChatInbox(bobSocket);
      const original = await send(aliceSocket, chat.id, 'draft');

      const refusedEdit = await bobSocket.emitWithAck(ChatEvent.EditMessage, {
        messageId: original.id,
        content: 'mine now',
      });
      expectFailure(refusedEdit, 'FORBIDDEN');
      const edited = expectOk(
        await aliceSocket.emitWithAck(ChatEvent.EditMessage, { messageId: original.id, content: 'final' }),
      );

      expect(edited).toEqual({
        ...original,
        content: 'final',
        editedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect((await bobInbox.waitFor(ChatEvent.MessageEdited)).data).toEqual(edited);
      expect((await listMessages(bob, chat.id)).messages).toEqual([edited]);
    });

    it('lets the sender or an admin delete, keeping the id and dropping the content', async () => {
      const [alice, bob, root] = [newUser('alice'), newUser('bob'), newUser('root')];
      const chat = await createChat(alice, [bob]);
      const aliceSocket = await join(alice);
      const bobSocket = await join(bob);
      const adminSocket = await join(root, ['admin']);
      const bobInbox = new ChatInbox(bobSocket);
      const fromAlice = await send(aliceSocket, chat.id, 'oops');
      const fromBob = await send(bobSocket, chat.id, 'rude');

      expectFailure(
        await bobSocket.emitWithAck(ChatEvent.DeleteMessage, { messageId: fromAlice.id }),
        'FORBIDDEN',
      );
      const deleted = expectOk(
        await aliceSocket.emitWithAck(ChatEvent.DeleteMessage, { messageId: fromAlice.id }),
      );
      const moderated = expectOk(
        await adminSocket.emitWithAck(ChatEvent.DeleteMessage, { messageId: fromBob.id }),
      );
      const again = expectOk(
        await aliceSocket.emitWithAck(ChatEvent.DeleteMessage, { messageId: fromAlice.id }),
      );

      const { content: _dropped, ...kept } = fromAlice;
      expect(deleted).toEqual({ ...kept, content: null, deletedAt: expect.stringMatching(ISO_TIMESTAMP) });
      expect(moderated).toMatchObject({ id: fromBob.id, senderId: bob, content: null });
      expect(again).toEqual(deleted);
      expect((await bobInbox.waitFor(ChatEvent.MessageDeleted)).data).toEqual(deleted);
      expect((await bobInbox.waitFor(ChatEvent.MessageDeleted, (m) => m.id === fromBob.id)).data).toEqual(
        moderated,
      );
      expectFailure(
        await aliceSocket.emitWithAck(ChatEvent.EditMessage, { messageId: fromAlice.id, content: 'back' }),
        'CONFLICT',
      );
      expect((await listMessages(bob, chat.id)).messages).toEqual([deleted, moderated]);
      expect(bobInbox.of(ChatEvent.MessageDeleted)).toHaveLength(2);
    });

    it('broadcasts writes made over REST exactly as socket writes', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const chat = await createChat(alice, [bob]);
      const aliceInbox = new ChatInbox(await join(alice));
      const bobInbox = new ChatInbox(await join(bob));
      const base = `/api/chats/${chat.id}/messages`;

      const created = await http().post(base).set(bearer(alice)).send({ content: 'over http' });
      expect(created.status).toBe(201);
      expect(body<{ message: string }>(created).message).toBe('Message sent');
      const message = dataOf<ChatMessage>(created);
      expect((await bobInbox.waitFor(ChatEvent.NewMessage)).data).toEqual(message);
      expect((await aliceInbox.waitFor(ChatEvent.NewMessage)).data).toEqual(message);

      const edited = await http()
        .patch(`${base}/${message.id}`)
        .set(bearer(alice))
        .send({ content: 'edited' });
      expect(edited.status).toBe(200);
      expect((await bobInbox.waitFor(ChatEvent.MessageEdited)).data).toEqual(dataOf(edited));
      const forbiddenEdit = await http()
        .patch(`${base}/${message.id}`)
        .set(bearer(bob))
        .send({ content: 'no' });
      expect(forbiddenEdit.status).toBe(403);

      const read = await http()
        .post(`/api/chats/${chat.id}/read`)
        .set(bearer(bob))
        .send({ messageId: message.id });
      expect(read.status).toBe(200);
      expect(dataOf(read)).toEqual({ chatId: chat.id, userId: bob, messageId: message.id });
      expect((await aliceInbox.waitFor(ChatEvent.Read)).data).toEqual(dataOf(read));

      const forbiddenDelete = await http().delete(`${base}/${message.id}`).set(bearer(bob));
      expect(forbiddenDelete.status).toBe(403);
      const deleted = await http().delete(`${base}/${message.id}`).set(bearer(alice));
      expect(deleted.status).toBe(200);
      expect(dataOf(deleted)).toMatchObject({ id: message.id, content: null });
      expect((await bobInbox.waitFor(ChatEvent.MessageDeleted)).data).toEqual(dataOf(deleted));

      const elsewhere = await createChat(alice, []);
      const misplaced = await http()
        .delete(`/api/chats/${elsewhere.id}/messages/${message.id}`)
        .set(bearer(alice));
      expect(misplaced.status).toBe(404);
    });

    it('stores a message once per clientId and sender, over the socket and over REST', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const chat = await createChat(alice, [bob]);
      const aliceSocket = await join(alice);
      const bobSocket = await join(bob);
      const bobInbox = new ChatInbox(bobSocket);

      const first = await send(aliceSocket, chat.id, 'once', 'retry-1');
      const retried = await send(aliceSocket, chat.id, 'once', 'retry-1');
      const overHttp = await http()
        .post(`/api/chats/${chat.id}/messages`)
        .set(bearer(alice))
        .send({ content: 'once', clientId: 'retry-1' });
      const bobsOwn = await send(bobSocket, chat.id, 'mine', 'retry-1');

      expect(first).toEqual(expect.objectContaining({ clientId: 'retry-1', content: 'once' }));
      expect(retried).toEqual(first);
      expect(overHttp.status).toBe(200);
      expect(overHttp.body).toEqual({ message: 'Message already stored', data: first });
      expect(bobsOwn.id).not.toBe(first.id);
      await bobInbox.waitFor(ChatEvent.NewMessage, (message) => message.id === bobsOwn.id);
      expect(bobInbox.of(ChatEvent.NewMessage).map((event) => event.data.id)).toEqual([first.id, bobsOwn.id]);
      expect((await listMessages(alice, chat.id)).messages).toEqual([first, bobsOwn]);
    });
  });

  describe('typing', () => {
    async function typingScene() {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const chat = await createChat(alice, [bob]);
      const aliceTyping = await join(alice);
      const aliceOther = new ChatInbox(await join(alice));
      const bobInbox = new ChatInbox(await join(bob));
      return { alice, bob, chat, aliceTyping, aliceOther, bobInbox };
    }

    it('tells the chat, never any socket of the typist, and stop-typing ends it', async () => {
      const { alice, chat, aliceTyping, aliceOther, bobInbox } = await typingScene();

      const typing = expectOk(await aliceTyping.emitWithAck(ChatEvent.Typing, { chatId: chat.id }));
      expect(typing).toEqual({ chatId: chat.id, userId: alice, isTyping: true });
      expect((await bobInbox.waitFor(ChatEvent.Typing)).data).toEqual(typing);
      const stopped = expectOk(await aliceTyping.emitWithAck(ChatEvent.StopTyping, { chatId: chat.id }));
      expect((await bobInbox.waitFor(ChatEvent.StopTyping)).data).toEqual(stopped);
      expect(stopped).toEqual({ chatId: chat.id, userId: alice, isTyping: false });

      const marker = await send(aliceTyping, chat.id, 'marker');
      await aliceOther.waitFor(ChatEvent.NewMessage, (message) => message.id === marker.id);
      // Bob's arrival (`user:online`, from Presence) may be there too; no typing state of her own is.
      const chatEvents = aliceOther.received
        .map((entry) => entry.event)
        .filter((event) => event !== 'user:online');
      expect(chatEvents).toEqual([ChatEvent.NewMessage]);
    });

    it('does not broadcast repeats within a second', async () => {
      const { chat, aliceTyping, bobInbox } = await typingScene();

      const startedAt = Date.now();
      for (let repeat = 0; repeat < 3; repeat++) {
        expectOk(await aliceTyping.emitWithAck(ChatEvent.Typing, { chatId: chat.id }));
      }
      const repeatsTookMs = Date.now() - startedAt;
      expectOk(await aliceTyping.emitWithAck(ChatEvent.StopTyping, { chatId: chat.id }));
      await bobInbox.waitFor(ChatEvent.StopTyping);

      expect(repeatsTookMs).toBeLessThan(ChatLimits.typingRebroadcastMs);
      expect(bobInbox.received.map((entry) => entry.event)).toEqual([ChatEvent.Typing, ChatEvent.StopTyping]);
    });

    it('ends by itself after CHAT_TYPING_IDLE_MS without a refresh', async () => {
      const { alice, chat, aliceTyping, bobInbox } = await typingScene();

      const typedAt = Date.now();
      expectOk(await aliceTyping.emitWithAck(ChatEvent.Typing, { chatId: chat.id }));
      await bobInbox.waitFor(ChatEvent.Typing);
      const stopped = await bobInbox.waitFor(ChatEvent.StopTyping, () => true, TYPING_IDLE_MS + 5000);

      expect(stopped.data).toEqual({ chatId: chat.id, userId: alice, isTyping: false });
      // The server armed its timer after the event left here; timers may round down by a few ms.
      expect(Date.now() - typedAt).toBeGreaterThanOrEqual(TYPING_IDLE_MS - 20);
    });

    it('ends when the typing socket disconnects', async () => {
      const { alice, chat, aliceTyping, bobInbox } = await typingScene();

      expectOk(await aliceTyping.emitWithAck(ChatEvent.Typing, { chatId: chat.id }));
      await bobInbox.waitFor(ChatEvent.Typing);
      const closedAt = Date.now();
      aliceTyping.close();
      const stopped = await bobInbox.waitFor(ChatEvent.StopTyping);

      expect(stopped.data).toEqual({ chatId: chat.id, userId: alice, isTyping: false });
      expect(Date.now() - closedAt).toBeLessThan(TYPING_IDLE_MS);
    });

    it('ends when the typist sends the message', async () => {
      const { chat, aliceTyping, bobInbox } = await typingScene();

      expectOk(await aliceTyping.emitWithAck(ChatEvent.Typing, { chatId: chat.id }));
      const sent = await send(aliceTyping, chat.id, 'done typing');
      await bobInbox.waitFor(ChatEvent.StopTyping);

      expect(bobInbox.received.map((entry) => entry.event)).toEqual([
        ChatEvent.Typing,
        ChatEvent.NewMessage,
        ChatEvent.StopTyping,
      ]);
      expect(bobInbox.of(ChatEvent.NewMessage)[0]?.data).toEqual(sent);
    });
  });

  describe('read receipts', () => {
    it('stores each member’s last read message and reports unread counts with the last message', async () => {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const chat = await createChat(alice, [bob]);
      const other = await createChat(alice, [bob]);
      const aliceSocket = await join(alice);
      const aliceInbox = new ChatInbox(aliceSocket);
      const bobSocket = await join(bob);
      const [first, second, third] = [
        await send(aliceSocket, chat.id, 'a'),
        await send(aliceSocket, chat.id, 'b'),
        await send(aliceSocket, chat.id, 'c'),
      ];
      const foreign = await post(alice, other.id, 'elsewhere');

      expect(await summaryOf(bob, chat.id)).toEqual({
        ...chat,
        lastMessage: third,
        lastSeq: 3,
        unreadCount: 3,
        readPositions: [],
      });
      expect((await summaryOf(alice, chat.id))?.unreadCount).toBe(0);

      const receipt = expectOk(
        await bobSocket.emitWithAck(ChatEvent.Read, { chatId: chat.id, messageId: second.id }),
      );
      expect(receipt).toEqual({ chatId: chat.id, userId: bob, messageId: second.id });
      expect((await aliceInbox.waitFor(ChatEvent.Read)).data).toEqual(receipt);
      expect((await summaryOf(bob, chat.id))?.unreadCount).toBe(1);

      const backwards = expectOk(
        await bobSocket.emitWithAck(ChatEvent.Read, { chatId: chat.id, messageId: first.id }),
      );
      expect(backwards.messageId).toBe(second.id);
      expectFailure(
        await bobSocket.emitWithAck(ChatEvent.Read, { chatId: chat.id, messageId: foreign.id }),
        'NOT_FOUND',
      );

      const latest = await http()
        .post(`/api/chats/${chat.id}/read`)
        .set(bearer(bob))
        .send({ messageId: third.id });
      expect(latest.status).toBe(200);
      expect((await summaryOf(bob, chat.id))?.unreadCount).toBe(0);
      expect((await summaryOf(bob, other.id))?.unreadCount).toBe(1);
      expect((await summaryOf(alice, chat.id))?.readPositions).toEqual([
        { userId: bob, messageId: third.id },
      ]);
    });
  });

  describe('paging and sync', () => {
    async function chatWithMessages(count: number) {
      const [alice, bob] = [newUser('alice'), newUser('bob')];
      const chat = await createChat(alice, [bob]);
      const aliceSocket = await join(alice);
      const sent: ChatMessage[] = [];
      for (let index = 1; index <= count; index++) sent.push(await send(aliceSocket, chat.id, `m${index}`));
      return { alice, bob, chat, sent };
    }

    it('catches up with chat:sync, page by page, in order', async () => {
      const { bob, chat, sent } = await chatWithMessages(7);
      const bobSocket = await join(bob);

      const pages: MessagePage[] = [];
      let cursor: number | undefined = itemAt(sent, 1).id;
      for (;;) {
        const page: MessagePage = expectOk(
          await bobSocket.emitWithAck(ChatEvent.Sync, { chatId: chat.id, afterMessageId: cursor, limit: 2 }),
        );
        pages.push(page);
        if (!page.hasMore) break;
        cursor = itemAt(page.messages, -1).id;
      }

      expect(pages.map((page) => page.messages.length)).toEqual([2, 2, 1]);
      expect(pages.flatMap((page) => page.messages)).toEqual(sent.slice(2));
      expect(expectOk(await bobSocket.emitWithAck(ChatEvent.Sync, { chatId: chat.id }))).toEqual({
        messages: sent,
        hasMore: false,
      });
    });

    it('catches up by seq with chat:sync and REST, with the held messages changed since a moment', async () => {
      const { alice, bob, chat, sent } = await chatWithMessages(5);
      const bobSocket = await join(bob);
      const aliceSocket = await join(alice);
      expect(sent.map((message) => message.seq)).toEqual([1, 2, 3, 4, 5]);
      const since = new Date().toISOString();
      const edited = expectOk(
        await aliceSocket.emitWithAck(ChatEvent.EditMessage, {
          messageId: itemAt(sent, 0).id,
          content: 'new',
        }),
      );
      expect(edited.seq).toBe(1);

      expect(
        expectOk(await bobSocket.emitWithAck(ChatEvent.Sync, { chatId: chat.id, afterSeq: 2, limit: 2 })),
      ).toEqual({ messages: sent.slice(2, 4), hasMore: true });
      expect(
        expectOk(await bobSocket.emitWithAck(ChatEvent.Sync, { chatId: chat.id, afterSeq: 3, since })),
      ).toEqual({ messages: sent.slice(3), hasMore: false, changed: [edited], hasMoreChanged: false });
      expect(await listMessages(bob, chat.id, '?afterSeq=4')).toEqual({
        messages: sent.slice(4),
        hasMore: false,
      });
      expect(await listMessages(bob, chat.id, '?afterSeq=0&limit=1')).toEqual({
        messages: [edited],
        hasMore: true,
      });
      const combined = await http().get(`/api/chats/${chat.id}/messages?afterSeq=1&after=1`).set(bearer(bob));
      expect(combined.status).toBe(400);
      expect(combined.body).toMatchObject({ code: 'VALIDATION_FAILED' });
      const summary = await summaryOf(bob, chat.id);
      expect(summary?.lastSeq).toBe(5);
    });

    it('pages over REST forwards with after, backwards with before, the latest by default', async () => {
      const { bob, chat, sent } = await chatWithMessages(5);
      const idAt = (index: number): number => itemAt(sent, index).id;

      const forwards = await listMessages(bob, chat.id, '?after=0&limit=2');
      const next = await listMessages(bob, chat.id, `?after=${idAt(1)}&limit=2`);
      const last = await listMessages(bob, chat.id, `?after=${idAt(3)}&limit=2`);
      const latest = await listMessages(bob, chat.id, '?limit=2');
      const older = await listMessages(bob, chat.id, `?before=${idAt(3)}&limit=2`);
      const oldest = await listMessages(bob, chat.id, `?before=${idAt(1)}&limit=2`);

      expect(forwards).toEqual({ messages: sent.slice(0, 2), hasMore: true });
      expect(next).toEqual({ messages: sent.slice(2, 4), hasMore: true });
      expect(last).toEqual({ messages: sent.slice(4), hasMore: false });
      expect(latest).toEqual({ messages: sent.slice(3), hasMore: true });
      expect(older).toEqual({ messages: sent.slice(1, 3), hasMore: true });
      expect(oldest).toEqual({ messages: sent.slice(0, 1), hasMore: false });
      expect(await listMessages(bob, chat.id)).toEqual({ messages: sent, hasMore: false });
    });

    it.each([
      ['a limit of 0', '?limit=0', 'limit'],
      ['a limit over the maximum', `?limit=${ChatLimits.maxPageSize + 1}`, 'limit'],
      ['a cursor that is not a number', '?after=latest', 'after'],
      ['a negative cursor', '?before=-3', 'before'],
      ['before and after together', '?before=5&after=1', 'after'],
    ])('answers 400 for %s', async (_case, query, field) => {
      const { bob, chat } = await chatWithMessages(1);
      const response = await http().get(`/api/chats/${chat.id}/messages${query}`).set(bearer(bob));
      expect(response.status).toBe(400);
      expect(response.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        code: 'VALIDATION_FAILED',
        message: expect.any(String),
        details: expect.arrayContaining([expect.objectContaining({ field })]),
      });
    });
  });

  describe('validation', () => {
    let alice: string;
    let chat: Chat;
    let message: ChatMessage;

    beforeAll(async () => {
      alice = newUser('alice');
      chat = await createChat(alice, []);
      message = await post(alice, chat.id, 'existing');
    });

    const tooLong = 'x'.repeat(MAX_CONTENT + 1);
    /** Content that shows nothing: whitespace, zero-width and other invisible characters. */
    const blankContents = ['   ', '\u200B\u200B', '\uFEFF \u200D'];
    type Ids = { chatId: string; messageId: number };
    interface Case {
      event: string;
      when: string;
      payload: (ids: Ids) => unknown;
      code: 'VALIDATION_FAILED' | 'NOT_FOUND';
      /** The field the error names, for validation failures of a field. */
      field: string | null;
    }
    const invalid = (event: string, when: string, payload: Case['payload'], field: string | null): Case => ({
      event,
      when,
      payload,
      code: 'VALIDATION_FAILED',
      field,
    });
    const invisible = (event: string, content: string, payload: Case['payload']): Case =>
      invalid(event, `the blank content ${codePoints(content)}`, payload, 'content');
    const unknown = (event: string, when: string, payload: Case['payload']): Case => ({
      event,
      when,
      payload,
      code: 'NOT_FOUND',
      field: null,
    });
    const cases: Case[] = [
      invalid('message:send', 'no payload', () => undefined, null),
      invalid('message:send', 'a non-object payload', () => 'hello', null),
      invalid('message:send', 'a missing chatId', () => ({ content: 'hi' }), 'chatId'),
      invalid('message:send', 'a numeric chatId', () => ({ chatId: 7, content: 'hi' }), 'chatId'),
      invalid('message:send', 'a missing content', ({ chatId }) => ({ chatId }), 'content'),
      invalid('message:send', 'a numeric content', ({ chatId }) => ({ chatId, content: 42 }), 'content'),
      invalid('message:send', 'an empty content', ({ chatId }) => ({ chatId, content: '' }), 'content'),
      invalid('message:send', 'a blank content', ({ chatId }) => ({ chatId, content: ' \n\t ' }), 'content'),
      invalid(
        'message:send',
        'a too long content',
        ({ chatId }) => ({ chatId, content: tooLong }),
        'content',
      ),
      invalid(
        'message:send',
        'an empty clientId',
        ({ chatId }) => ({ chatId, content: 'hi', clientId: '' }),
        'clientId',
      ),
      invalid(
        'message:send',
        'an unknown field',
        ({ chatId }) => ({ chatId, content: 'hi', senderId: 'x' }),
        'senderId',
      ),
      ...blankContents.map((content) =>
        invisible('message:send', content, ({ chatId }) => ({ chatId, content })),
      ),
      unknown('message:send', 'an unknown chat', () => ({ chatId: randomUUID(), content: 'hi' })),
      invalid('message:edit', 'a missing messageId', () => ({ content: 'x' }), 'messageId'),
      invalid(
        'message:edit',
        'a string messageId',
        ({ messageId }) => ({ messageId: String(messageId), content: 'x' }),
        'messageId',
      ),
      invalid(
        'message:edit',
        'a fractional messageId',
        () => ({ messageId: 1.5, content: 'x' }),
        'messageId',
      ),
      invalid('message:edit', 'an empty content', ({ messageId }) => ({ messageId, content: '' }), 'content'),
      invalid(
        'message:edit',
        'a too long content',
        ({ messageId }) => ({ messageId, content: tooLong }),
        'content',
      ),
      ...blankContents.map((content) =>
        invisible('message:edit', content, ({ messageId }) => ({ messageId, content })),
      ),
      unknown('message:edit', 'an unknown message', () => ({
        messageId: Number.MAX_SAFE_INTEGER,
        content: 'x',
      })),
      invalid('message:delete', 'a missing messageId', () => ({}), 'messageId'),
      invalid('message:delete', 'a zero messageId', () => ({ messageId: 0 }), 'messageId'),
      invalid('message:delete', 'an unsafe messageId', () => ({ messageId: 2 ** 60 }), 'messageId'),
      unknown('message:delete', 'an unknown message', () => ({ messageId: 987_654_321 })),
      invalid('message:read', 'a missing messageId', ({ chatId }) => ({ chatId }), 'messageId'),
      invalid(
        'message:read',
        'a string messageId',
        ({ chatId }) => ({ chatId, messageId: 'last' }),
        'messageId',
      ),
      unknown('message:read', 'an unknown message', ({ chatId }) => ({ chatId, messageId: 987_654_321 })),
      unknown('message:read', 'an unknown chat', ({ messageId }) => ({ chatId: randomUUID(), messageId })),
      invalid('user:typing', 'a missing chatId', () => ({}), 'chatId'),
      invalid('user:typing', 'an empty chatId', () => ({ chatId: '' }), 'chatId'),
      invalid(
        'user:typing',
        'a too long chatId',
        () => ({ chatId: 'c'.repeat(ChatLimits.maxChatIdLength + 1) }),
        'chatId',
      ),
      unknown('user:typing', 'an unknown chat', () => ({ chatId: randomUUID() })),
      invalid('user:stop-typing', 'an array chatId', () => ({ chatId: ['a'] }), 'chatId'),
      unknown('user:stop-typing', 'an unknown chat', () => ({ chatId: randomUUID() })),
      invalid('chat:sync', 'a limit of 0', ({ chatId }) => ({ chatId, limit: 0 }), 'limit'),
      invalid(
        'chat:sync',
        'a limit over the maximum',
        ({ chatId }) => ({ chatId, limit: ChatLimits.maxPageSize + 1 }),
        'limit',
      ),
      invalid('chat:sync', 'a string limit', ({ chatId }) => ({ chatId, limit: '5' }), 'limit'),
      invalid(
        'chat:sync',
        'a negative cursor',
        ({ chatId }) => ({ chatId, afterMessageId: -1 }),
        'afterMessageId',
      ),
      invalid('chat:sync', 'a negative afterSeq', ({ chatId }) => ({ chatId, afterSeq: -1 }), 'afterSeq'),
      invalid('chat:sync', 'a fractional afterSeq', ({ chatId }) => ({ chatId, afterSeq: 1.5 }), 'afterSeq'),
      invalid('chat:sync', 'a string afterSeq', ({ chatId }) => ({ chatId, afterSeq: '3' }), 'afterSeq'),
      invalid(
        'chat:sync',
        'afterSeq with afterMessageId',
        ({ chatId }) => ({ chatId, afterSeq: 1, afterMessageId: 1 }),
        'afterMessageId',
      ),
      invalid(
        'chat:sync',
        'a since that is no time',
        ({ chatId }) => ({ chatId, afterSeq: 0, since: 'yesterday' }),
        'since',
      ),
      invalid(
        'chat:sync',
        'an oversized since',
        ({ chatId }) => ({ chatId, afterSeq: 0, since: `2030-01-01T00:00:00${'0'.repeat(100)}Z` }),
        'since',
      ),
      invalid(
        'chat:sync',
        'since without afterSeq',
        ({ chatId }) => ({ chatId, since: new Date().toISOString() }),
        'since',
      ),
      unknown('chat:sync', 'an unknown chat', () => ({ chatId: randomUUID() })),
      unknown('chat:sync', 'an unknown chat by seq', () => ({ chatId: randomUUID(), afterSeq: 0 })),
    ];

    it.each(cases)(
      '$event with $when answers $code and keeps the connection',
      async ({ event, payload, code, field }) => {
        const socket = await join(alice);
        const error = expectFailure(
          await askRaw(socket, event, payload({ chatId: chat.id, messageId: message.id })),
          code,
        );
        if (field !== null) {
          expect(error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
        }
        expect(socket.connected).toBe(true);
        expect(expectOk(await socket.emitWithAck(ChatEvent.Sync, { chatId: chat.id }))).toEqual({
          messages: [message],
          hasMore: false,
        });
      },
    );

    it('emits the error as exception when the event has no ack', async () => {
      const socket = await join(alice);
      const exception = new Promise((resolve) => (socket as Socket).once('exception', resolve));
      (socket as Socket).emit(ChatEvent.SendMessage, { chatId: chat.id, content: '   ' });
      expect(await exception).toEqual({
        code: 'VALIDATION_FAILED',
        message: 'content must not be empty or only whitespace',
        details: [{ field: 'content', problems: ['content must not be empty or only whitespace'] }],
      });
    });

    it('accepts content up to CHAT_MAX_CONTENT characters, counting characters rather than code units', async () => {
      const socket = await join(alice);
      const scratch = await createChat(alice, []);
      const longest = await send(socket, scratch.id, 'y'.repeat(MAX_CONTENT));
      const emoji = await send(socket, scratch.id, '🙂'.repeat(MAX_CONTENT));
      expect(longest.content).toHaveLength(MAX_CONTENT);
      expect(emoji.content).toBe('🙂'.repeat(MAX_CONTENT));
      expectFailure(
        await socket.emitWithAck(ChatEvent.SendMessage, {
          chatId: scratch.id,
          content: '🙂'.repeat(MAX_CONTENT + 1),
        }),
        'VALIDATION_FAILED',
      );
    });

    it.each([
      ['participantIds missing', {}, 'participantIds'],
      ['participantIds not an array', { participantIds: 'bob' }, 'participantIds'],
      ['an empty participant id', { participantIds: [''] }, 'participantIds'],
      [
        'too many participants',
        { participantIds: Array.from({ length: ChatLimits.maxParticipants + 1 }, (_, i) => `u${i}`) },
        'participantIds',
      ],
      ['a blank title', { participantIds: [], title: '   ' }, 'title'],
      ['a too long title', { participantIds: [], title: 't'.repeat(ChatLimits.maxTitleLength + 1) }, 'title'],
    ])('refuses to create a chat with %s', async (_case, payload, field) => {
      const response = await http().post('/api/chats').set(bearer(alice)).send(payload);
      expect(response.status).toBe(400);
      expect(body<{ details: unknown }>(response).details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field })]),
      );
    });

    it('refuses blank and too long content over REST naming the field', async () => {
      for (const content of [...blankContents, tooLong]) {
        const posted = await http()
          .post(`/api/chats/${chat.id}/messages`)
          .set(bearer(alice))
          .send({ content });
        const patched = await http()
          .patch(`/api/chats/${chat.id}/messages/${message.id}`)
          .set(bearer(alice))
          .send({ content });
        for (const response of [posted, patched]) {
          expect(response.status).toBe(400);
          expect(body<{ details: unknown }>(response).details).toEqual([
            { field: 'content', problems: [expect.any(String)] },
          ]);
        }
      }
      const badId = await http()
        .patch(`/api/chats/${chat.id}/messages/abc`)
        .set(bearer(alice))
        .send({ content: 'x' });
      expect(badId.status).toBe(400);
      expect((await listMessages(alice, chat.id)).messages).toEqual([message]);
    });
  });
});

describe('chat storage across restarts (e2e)', () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'switchboard-chat-'));
  });
  afterAll(() => rm(directory, { recursive: true, force: true }));

  it('keeps chats, messages and read positions when the server restarts', async () => {
    const env = { ...TEST_ENV, DATABASE_URL: `sqlite:${join(directory, 'chat.db')}` };
    const [alice, bob] = [newUser('alice'), newUser('bob')];

    const first = await startApp(env);
    let chat: Chat;
    let sent: ChatMessage[];
    try {
      const http = () => request(first.app.getHttpServer());
      chat = dataOf<Chat>(
        await http()
          .post('/api/chats')
          .set(bearer(alice))
          .send({ participantIds: [bob], title: 'Durable' }),
      );
      sent = [];
      for (const content of ['before', 'the', 'restart']) {
        const stored = await http()
          .post(`/api/chats/${chat.id}/messages`)
          .set(bearer(alice))
          .send({ content });
        sent.push(dataOf<ChatMessage>(stored));
      }
      await http()
        .post(`/api/chats/${chat.id}/read`)
        .set(bearer(bob))
        .send({ messageId: itemAt(sent, 0).id });
    } finally {
      await first.close();
    }

    const second = await startApp(env);
    const socket = client(second.url, '/chat', {
      auth: { token: signToken({ sub: bob }) },
    }) as ChatSocket;
    try {
      const inbox = new ChatInbox(socket);
      await connected(socket);
      const http = () => request(second.app.getHttpServer());
      const page = await http().get(`/api/chats/${chat.id}/messages`).set(bearer(bob));
      expect(dataOf(page)).toEqual({ messages: sent, hasMore: false });
      const chats = await http().get('/api/chats').set(bearer(bob));
      expect(dataOf<ChatList>(chats).chats).toEqual([
        {
          ...chat,
          lastMessage: sent[2],
          lastSeq: 3,
          unreadCount: 2,
          readPositions: [{ userId: bob, messageId: itemAt(sent, 0).id }],
        },
      ]);

      const after = await http()
        .post(`/api/chats/${chat.id}/messages`)
        .set(bearer(alice))
        .send({ content: 'after' });
      expect(dataOf<ChatMessage>(after).id).toBeGreaterThan(itemAt(sent, 2).id);
      expect((await inbox.waitFor(ChatEvent.NewMessage)).data).toEqual(dataOf(after));
    } finally {
      socket.close();
      await second.close();
    }
  });
});

describe('chat connections without storage (e2e)', () => {
  it('refuses a /chat socket whose chats cannot be loaded, with a clear connect_error', async () => {
    const running = await startApp(TEST_ENV);
    const socket = client(running.url, '/chat', { auth: { token: signToken({ sub: newUser('alice') }) } });
    try {
      await running.app.get(DatabaseService).close();
      const error = await refused(socket);
      expect(error.message).toBe('SERVICE_UNAVAILABLE');
      expect(error.data).toEqual({ code: 'SERVICE_UNAVAILABLE', message: expect.any(String) });
    } finally {
      socket.close();
      await running.close();
    }
  });
});
