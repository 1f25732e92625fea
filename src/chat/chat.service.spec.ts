import { jest } from '@jest/globals';
import { Server } from 'socket.io';
import { itemAt } from '../../test/support/items.js';
import { InMemoryChatRepository } from '../../test/support/memory-chat.repository.js';
import { RecordingAdapter } from '../../test/support/recording-adapter.js';
import { buildAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { AppError } from '../common/errors.js';
import { RealtimeServer } from '../realtime/realtime-server.js';
import { CHAT_NAMESPACE, ChatEvent, ChatLimits } from './chat.events.js';
import { ChatService, type ChatActor } from './chat.service.js';
import type { Chat, ChatMessage } from './chat.types.js';

const config = buildAppConfig(
  validateEnvironment({ NODE_ENV: 'test', JWT_SECRET: 'unit-test-secret', CHAT_MAX_CONTENT: '10' }),
);

const alice: ChatActor = { userId: 'alice', roles: [] };
const bob: ChatActor = { userId: 'bob', roles: [] };
const carol: ChatActor = { userId: 'carol', roles: [] };
const eve: ChatActor = { userId: 'eve', roles: [] };
const admin: ChatActor = { userId: 'root', roles: ['admin'] };

async function failureOf(operation: Promise<unknown>): Promise<AppError> {
  const error = await operation.then(
    () => {
      throw new Error('Expected the operation to fail');
    },
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('ChatService', () => {
  let repository: InMemoryChatRepository;
  let io: Server;
  let service: ChatService;
  let adapter: RecordingAdapter;

  beforeEach(() => {
    repository = new InMemoryChatRepository();
    // Never attached to an HTTP server: nothing listens, nothing needs closing.
    io = new Server({ adapter: RecordingAdapter });
    const realtime = new RealtimeServer();
    realtime.attach(io);
    adapter = io.of(CHAT_NAMESPACE).adapter as RecordingAdapter;
    service = new ChatService(repository, realtime, config);
  });

  afterEach(() => {
    service.onModuleDestroy();
    jest.useRealTimers();
  });

  const events = () => adapter.events();

  async function chatOf(creator: ChatActor, ...others: ChatActor[]): Promise<Chat> {
    const chat = await service.createChat(creator, { participantIds: others.map((member) => member.userId) });
    adapter.reset();
    return chat;
  }

  describe('chats and members', () => {
    it('creates a chat with its creator, puts every participant’s sockets in its room and tells them', async () => {
      const chat = await service.createChat(alice, {
        participantIds: ['bob', 'bob', 'alice'],
        title: 'Plans',
      });

      expect(chat).toMatchObject({ title: 'Plans', participantIds: ['alice', 'bob'], createdBy: 'alice' });
      expect(adapter.joins).toEqual([{ of: ['user:alice', 'user:bob'], rooms: [`chat:${chat.id}`] }]);
      expect(adapter.broadcasts).toEqual([
        { event: ChatEvent.ChatCreated, data: chat, to: ['user:alice', 'user:bob'], except: [] },
      ]);
      expect((await service.createChat(bob, { participantIds: [] })).title).toBeNull();
    });

    it('shows a chat to participants and answers a stranger exactly as an unknown id', async () => {
      const chat = await chatOf(alice, bob);

      expect(await service.getChat(bob, chat.id)).toEqual(chat);
      const stranger = await failureOf(service.getChat(eve, chat.id));
      const unknown = await failureOf(service.getChat(eve, 'chat-404'));
      expect(stranger.toBody()).toEqual({ code: 'NOT_FOUND', message: `Chat ${chat.id} not found` });
      expect(unknown.toBody()).toEqual({ code: 'NOT_FOUND', message: 'Chat chat-404 not found' });
    });

    it('lets a participant add a member, once, joining their sockets and telling the chat and them', async () => {
      const chat = await chatOf(alice, bob);

      const first = await service.addMember(bob, chat.id, 'carol');
      const again = await service.addMember(alice, chat.id, 'carol');

      expect(first).toEqual({ chat: { ...chat, participantIds: ['alice', 'bob', 'carol'] }, added: true });
      expect(again).toEqual({ chat: first.chat, added: false });
      expect(adapter.joins).toEqual([{ of: ['user:carol'], rooms: [`chat:${chat.id}`] }]);
      expect(adapter.broadcasts).toEqual([
        {
          event: ChatEvent.MemberAdded,
          data: { chatId: chat.id, userId: 'carol', addedBy: 'bob', chat: first.chat },
          to: [`chat:${chat.id}`, 'user:carol'],
          except: [],
        },
      ]);
    });

    it('refuses a stranger adding members, storing and broadcasting nothing', async () => {
      const chat = await chatOf(alice);

      expect((await failureOf(service.addMember(eve, chat.id, 'eve'))).code).toBe('NOT_FOUND');
      expect(await repository.isParticipant(chat.id, 'eve')).toBe(false);
      expect(adapter.broadcasts).toEqual([]);
    });

    it('lets members leave and the creator or an admin remove others', async () => {
      const chat = await chatOf(alice, bob, carol, eve);

      expect((await failureOf(service.removeMember(bob, chat.id, 'carol'))).code).toBe('FORBIDDEN');
      expect(await service.removeMember(bob, chat.id, 'bob')).toEqual({
        chatId: chat.id,
        userId: 'bob',
        removedBy: 'bob',
      });
      await service.removeMember(alice, chat.id, 'carol');
      await service.removeMember(admin, chat.id, 'eve');
      expect((await failureOf(service.removeMember(alice, chat.id, 'bob'))).toBody()).toEqual({
        code: 'NOT_FOUND',
        message: `User bob is not a member of chat ${chat.id}`,
      });
      expect((await failureOf(service.removeMember(bob, chat.id, 'alice'))).code).toBe('NOT_FOUND');

      expect((await repository.findChat(chat.id))?.participantIds).toEqual(['alice']);
      expect(adapter.leaves).toEqual(
        ['bob', 'carol', 'eve'].map((user) => ({ of: [`user:${user}`], rooms: [`chat:${chat.id}`] })),
      );
      expect(adapter.broadcasts.map(({ event, to }) => ({ event, to }))).toEqual(
        ['bob', 'carol', 'eve'].map((user) => ({
          event: ChatEvent.MemberRemoved,
          to: [`chat:${chat.id}`, `user:${user}`],
        })),
      );
    });

    it('lists the caller’s chats with their summaries', async () => {
      const chat = await chatOf(alice, bob);
      const { message } = await service.sendMessage(alice, { chatId: chat.id, content: 'hi' });

      expect(await service.listChats(bob)).toEqual([
        { ...chat, lastMessage: message, lastSeq: 1, unreadCount: 1, readPositions: [] },
      ]);
      expect(await service.listChats(eve)).toEqual([]);
      expect(await service.chatRoomsOf('bob')).toEqual([`chat:${chat.id}`]);
    });
  });

  describe('messages', () => {
    it('stores a message, then broadcasts it to the chat', async () => {
      const chat = await chatOf(alice, bob);

      const { message, created } = await service.sendMessage(alice, { chatId: chat.id, content: 'hello' });

      expect(created).toBe(true);
      expect(repository.storedMessages(chat.id)).toEqual([message]);
      expect(adapter.broadcasts).toEqual([
        { event: ChatEvent.NewMessage, data: message, to: [`chat:${chat.id}`], except: [] },
      ]);
    });

    it('broadcasts nothing when the message could not be stored', async () => {
      const chat = await chatOf(alice, bob);
      const unavailable = AppError.unavailable('Database unavailable');
      repository.failNextInsert = unavailable;

      await expect(service.sendMessage(alice, { chatId: chat.id, content: 'lost' })).rejects.toBe(
        unavailable,
      );
      expect(adapter.broadcasts).toEqual([]);
    });

    it('stores and broadcasts a message once per clientId and sender', async () => {
      const chat = await chatOf(alice, bob);

      const first = await service.sendMessage(alice, { chatId: chat.id, content: 'once', clientId: 'c1' });
      const retry = await service.sendMessage(alice, { chatId: chat.id, content: 'once', clientId: 'c1' });
      const bobs = await service.sendMessage(bob, { chatId: chat.id, content: 'mine', clientId: 'c1' });

      expect(retry).toEqual({ message: first.message, created: false });
      expect(bobs.created).toBe(true);
      expect(repository.storedMessages(chat.id)).toEqual([first.message, bobs.message]);
      expect(events()).toEqual([ChatEvent.NewMessage, ChatEvent.NewMessage]);
    });

    it.each([
      ['empty', '', 'content must not be empty or only whitespace'],
      ['only whitespace', ' \n\t\u00a0', 'content must not be empty or only whitespace'],
      ['only zero-width characters', '\u200B\u200B', 'content must not be empty or only whitespace'],
      [
        'only invisible characters and whitespace',
        '\uFEFF \u200D\u00AD',
        'content must not be empty or only whitespace',
      ],
      ['longer than CHAT_MAX_CONTENT', 'x'.repeat(11), 'content must be at most 10 characters'],
      [
        'longer in characters, not only in code units',
        '🙂'.repeat(11),
        'content must be at most 10 characters',
      ],
    ])('refuses %s content naming the field, before anything else', async (_case, content, problem) => {
      const chat = await chatOf(alice);

      const sent = await failureOf(service.sendMessage(alice, { chatId: chat.id, content }));
      const edited = await failureOf(service.editMessage(alice, { messageId: 1, content }));

      for (const error of [sent, edited]) {
        expect(error.toBody()).toEqual({
          code: 'VALIDATION_FAILED',
          message: problem,
          details: [{ field: 'content', problems: [problem] }],
        });
      }
      expect(repository.storedMessages(chat.id)).toEqual([]);
    });

    it('accepts content of exactly CHAT_MAX_CONTENT characters, keeping surrounding whitespace and invisible characters', async () => {
      const chat = await chatOf(alice);

      const emoji = await service.sendMessage(alice, { chatId: chat.id, content: '🙂'.repeat(10) });
      const padded = await service.sendMessage(alice, { chatId: chat.id, content: '  padded  ' });
      const invisible = await service.sendMessage(alice, {
        chatId: chat.id,
        content: '\u200Bhi\u00AD\uFEFF',
      });

      expect(emoji.message.content).toBe('🙂'.repeat(10));
      expect(padded.message.content).toBe('  padded  ');
      expect(invisible.message.content).toBe('\u200Bhi\u00AD\uFEFF');
    });

    it('refuses a stranger posting, as for an unknown chat', async () => {
      const chat = await chatOf(alice);

      for (const chatId of [chat.id, 'chat-404']) {
        expect((await failureOf(service.sendMessage(eve, { chatId, content: 'hi' }))).toBody()).toEqual({
          code: 'NOT_FOUND',
          message: `Chat ${chatId} not found`,
        });
      }
      expect(repository.storedMessages(chat.id)).toEqual([]);
    });

    it('lets only the sender edit, keeping editedAt, and broadcasts the edit', async () => {
      const chat = await chatOf(alice, bob);
      const { message } = await service.sendMessage(alice, { chatId: chat.id, content: 'draft' });
      adapter.broadcasts.length = 0;

      expect(
        (await failureOf(service.editMessage(bob, { messageId: message.id, content: 'mine' }))).code,
      ).toBe('FORBIDDEN');
      expect(
        (await failureOf(service.editMessage(eve, { messageId: message.id, content: 'x' }))).toBody(),
      ).toEqual({
        code: 'NOT_FOUND',
        message: `Message ${message.id} not found`,
      });
      expect(
        (await failureOf(service.editMessage(alice, { messageId: message.id, content: 'x' }, 'chat-9'))).code,
      ).toBe('NOT_FOUND');
      const edited = await service.editMessage(alice, { messageId: message.id, content: 'final' }, chat.id);

      expect(edited).toEqual({ ...message, content: 'final', editedAt: expect.any(String) });
      expect(adapter.broadcasts).toEqual([
        { event: ChatEvent.MessageEdited, data: edited, to: [`chat:${chat.id}`], except: [] },
      ]);
    });

    it('lets the sender or any admin delete, once, and refuses edits of a deleted message', async () => {
      const chat = await chatOf(alice, bob);
      const fromAlice = (await service.sendMessage(alice, { chatId: chat.id, content: 'oops' })).message;
      const fromBob = (await service.sendMessage(bob, { chatId: chat.id, content: 'rude' })).message;
      adapter.broadcasts.length = 0;

      expect((await failureOf(service.deleteMessage(bob, { messageId: fromAlice.id }))).code).toBe(
        'FORBIDDEN',
      );
      expect((await failureOf(service.deleteMessage(eve, { messageId: fromAlice.id }))).code).toBe(
        'NOT_FOUND',
      );
      expect((await failureOf(service.deleteMessage(admin, { messageId: fromBob.id }, 'chat-9'))).code).toBe(
        'NOT_FOUND',
      );
      const deleted = await service.deleteMessage(alice, { messageId: fromAlice.id });
      const again = await service.deleteMessage(alice, { messageId: fromAlice.id }, chat.id);
      const moderated = await service.deleteMessage(admin, { messageId: fromBob.id });
      const edit = await failureOf(service.editMessage(alice, { messageId: fromAlice.id, content: 'back' }));

      expect(deleted).toEqual({ ...fromAlice, content: null, deletedAt: expect.any(String) });
      expect(again).toEqual(deleted);
      expect(moderated).toMatchObject({ id: fromBob.id, content: null });
      expect(edit.code).toBe('CONFLICT');
      expect(adapter.broadcasts).toEqual([
        { event: ChatEvent.MessageDeleted, data: deleted, to: [`chat:${chat.id}`], except: [] },
        { event: ChatEvent.MessageDeleted, data: moderated, to: [`chat:${chat.id}`], except: [] },
      ]);
    });
  });

  describe('read receipts', () => {
    it('moves the read position forward only, telling the chat when it moves', async () => {
      const chat = await chatOf(alice, bob);
      const other = await chatOf(alice, bob);
      const [older, newer] = [
        (await service.sendMessage(alice, { chatId: chat.id, content: 'a' })).message,
        (await service.sendMessage(alice, { chatId: chat.id, content: 'b' })).message,
      ];
      const foreign = (await service.sendMessage(alice, { chatId: other.id, content: 'c' })).message;
      adapter.broadcasts.length = 0;

      const latest = await service.markRead(bob, { chatId: chat.id, messageId: newer.id });
      const backwards = await service.markRead(bob, { chatId: chat.id, messageId: older.id });
      const misplaced = await failureOf(service.markRead(bob, { chatId: chat.id, messageId: foreign.id }));
      const stranger = await failureOf(service.markRead(eve, { chatId: chat.id, messageId: older.id }));

      expect(latest).toEqual({ chatId: chat.id, userId: 'bob', messageId: newer.id });
      expect(backwards).toEqual(latest);
      expect(misplaced.toBody()).toEqual({ code: 'NOT_FOUND', message: `Message ${foreign.id} not found` });
      expect(stranger.code).toBe('NOT_FOUND');
      expect(adapter.broadcasts).toEqual([
        { event: ChatEvent.Read, data: latest, to: [`chat:${chat.id}`], except: [] },
      ]);
    });
  });

  describe('paging and sync', () => {
    async function chatWith(count: number) {
      const chat = await chatOf(alice, bob);
      const sent: ChatMessage[] = [];
      for (let index = 0; index < count; index++) {
        sent.push((await service.sendMessage(alice, { chatId: chat.id, content: `m${index}` })).message);
      }
      return { chat, sent };
    }

    it('pages with the default size, never beyond the maximum', async () => {
      const { chat, sent } = await chatWith(ChatLimits.maxPageSize + 5);

      const latest = await service.listMessages(bob, chat.id, {});
      const capped = await service.listMessages(bob, chat.id, { after: 0, limit: 10_000 });

      expect(latest).toEqual({ messages: sent.slice(-ChatLimits.defaultPageSize), hasMore: true });
      expect(capped).toEqual({ messages: sent.slice(0, ChatLimits.maxPageSize), hasMore: true });
    });

    it('syncs every message after a cursor, in order, page by page', async () => {
      const { chat, sent } = await chatWith(5);
      const idAt = (index: number): number => itemAt(sent, index).id;

      const first = await service.sync(bob, { chatId: chat.id, afterMessageId: idAt(0), limit: 3 });
      const rest = await service.sync(bob, { chatId: chat.id, afterMessageId: idAt(3), limit: 3 });
      const everything = await service.sync(bob, { chatId: chat.id });

      expect(first).toEqual({ messages: sent.slice(1, 4), hasMore: true });
      expect(rest).toEqual({ messages: sent.slice(4), hasMore: false });
      expect(everything).toEqual({ messages: sent, hasMore: false });
    });

    it('syncs by seq, with the held messages changed since a moment', async () => {
      const { chat, sent } = await chatWith(5);
      const before = new Date(Date.now() - 1);
      const edited = await service.editMessage(alice, { messageId: itemAt(sent, 1).id, content: 'edited' });
      const deleted = await service.deleteMessage(alice, { messageId: itemAt(sent, 3).id });

      expect(await service.sync(bob, { chatId: chat.id, afterSeq: 3, limit: 1 })).toEqual({
        messages: [deleted],
        hasMore: true,
      });
      expect(await service.sync(bob, { chatId: chat.id, afterSeq: 3, since: before.toISOString() })).toEqual({
        messages: [deleted, itemAt(sent, 4)],
        hasMore: false,
        changed: [edited],
        hasMoreChanged: false,
      });
      expect(await service.listMessages(bob, chat.id, { afterSeq: 4 })).toEqual({
        messages: [itemAt(sent, 4)],
        hasMore: false,
      });
    });

    it('refuses afterSeq with another cursor, and since without afterSeq', async () => {
      const { chat } = await chatWith(1);

      const both = await failureOf(service.sync(bob, { chatId: chat.id, afterSeq: 1, afterMessageId: 1 }));
      expect(both.toBody()).toMatchObject({
        code: 'VALIDATION_FAILED',
        message: 'afterSeq and afterMessageId cannot be combined',
      });
      const alone = await failureOf(service.sync(bob, { chatId: chat.id, since: new Date().toISOString() }));
      expect(alone.toBody()).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ field: 'since' }] });
      const mixed = await failureOf(service.listMessages(bob, chat.id, { after: 1, afterSeq: 1 }));
      expect(mixed.code).toBe('VALIDATION_FAILED');
    });

    it('refuses before and after together, and strangers', async () => {
      const { chat } = await chatWith(1);

      const combined = await failureOf(service.listMessages(bob, chat.id, { before: 5, after: 1 }));
      expect(combined.toBody()).toEqual({
        code: 'VALIDATION_FAILED',
        message: 'before and after cannot be combined',
        details: [{ field: 'after', problems: ['before and after cannot be combined'] }],
      });
      expect((await failureOf(service.sync(eve, { chatId: chat.id }))).code).toBe('NOT_FOUND');
    });
  });

  describe('typing', () => {
    const idleMs = config.chat.typingIdleMs;
    let chat: Chat;
    const stateOf = (isTyping: boolean) => ({ chatId: chat.id, userId: 'alice', isTyping });
    const typingTo = () => ({ to: [`chat:${chat.id}`], except: ['user:alice'] });

    beforeEach(async () => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate'] });
      chat = await chatOf(alice, bob);
    });

    it('tells the chat except the typist’s sockets, at most once a second', async () => {
      expect(await service.startTyping(alice, chat.id, 'socket-1')).toEqual(stateOf(true));
      jest.advanceTimersByTime(ChatLimits.typingRebroadcastMs - 1);
      await service.startTyping(alice, chat.id, 'socket-1');
      jest.advanceTimersByTime(1);
      await service.startTyping(alice, chat.id, 'socket-1');

      expect(adapter.broadcasts).toEqual([
        { event: ChatEvent.Typing, data: stateOf(true), ...typingTo() },
        { event: ChatEvent.Typing, data: stateOf(true), ...typingTo() },
      ]);
    });

    it('ends a state not refreshed for three seconds by default, and each refresh postpones the end', async () => {
      expect(idleMs).toBe(3000);

      await service.startTyping(alice, chat.id, 'socket-1');
      jest.advanceTimersByTime(idleMs - 1);
      await service.startTyping(alice, chat.id, 'socket-1');
      jest.advanceTimersByTime(idleMs - 1);
      expect(events()).not.toContain(ChatEvent.StopTyping);

      jest.advanceTimersByTime(1);

      expect(adapter.broadcasts.at(-1)).toEqual({
        event: ChatEvent.StopTyping,
        data: stateOf(false),
        ...typingTo(),
      });
      jest.advanceTimersByTime(idleMs * 2);
      expect(events().filter((event) => event === ChatEvent.StopTyping)).toHaveLength(1);
    });

    it('ends on stop-typing, and a stop without typing broadcasts nothing', async () => {
      expect(await service.stopTyping(alice, chat.id)).toEqual(stateOf(false));
      await service.startTyping(alice, chat.id, 'socket-1');
      await service.stopTyping(alice, chat.id);
      jest.advanceTimersByTime(idleMs * 2);

      expect(events()).toEqual([ChatEvent.Typing, ChatEvent.StopTyping]);
    });

    it('ends when the socket that refreshed it last disconnects, and only then', async () => {
      await service.startTyping(alice, chat.id, 'socket-1');
      await service.startTyping(alice, chat.id, 'socket-2');
      service.endTypingOf('socket-1');
      expect(events()).toEqual([ChatEvent.Typing]);

      service.endTypingOf('socket-2');

      expect(adapter.broadcasts.at(-1)).toEqual({
        event: ChatEvent.StopTyping,
        data: stateOf(false),
        ...typingTo(),
      });
      jest.advanceTimersByTime(idleMs * 2);
      expect(events()).toEqual([ChatEvent.Typing, ChatEvent.StopTyping]);
    });

    it('ends when the typist sends a message or leaves the chat', async () => {
      await service.startTyping(alice, chat.id, 'socket-1');
      await service.sendMessage(alice, { chatId: chat.id, content: 'done' });
      await service.startTyping(alice, chat.id, 'socket-1');
      await service.removeMember(alice, chat.id, 'alice');

      expect(events()).toEqual([
        ChatEvent.Typing,
        ChatEvent.NewMessage,
        ChatEvent.StopTyping,
        ChatEvent.Typing,
        ChatEvent.MemberRemoved,
        ChatEvent.StopTyping,
      ]);
    });

    it('refuses strangers', async () => {
      expect((await failureOf(service.startTyping(eve, chat.id, 'socket-9'))).code).toBe('NOT_FOUND');
      expect((await failureOf(service.stopTyping(eve, chat.id))).code).toBe('NOT_FOUND');
      expect(adapter.broadcasts).toEqual([]);
    });

    it('ends a state after CHAT_TYPING_IDLE_MS when that is configured', async () => {
      const quick = buildAppConfig(
        validateEnvironment({ NODE_ENV: 'test', JWT_SECRET: 'unit-test-secret', CHAT_TYPING_IDLE_MS: '200' }),
      );
      const realtime = new RealtimeServer();
      realtime.attach(io);
      const quickService = new ChatService(repository, realtime, quick);
      try {
        await quickService.startTyping(alice, chat.id, 'socket-1');
        jest.advanceTimersByTime(150);
        await quickService.startTyping(alice, chat.id, 'socket-1');
        jest.advanceTimersByTime(199);
        expect(events()).toEqual([ChatEvent.Typing]);

        jest.advanceTimersByTime(1);

        expect(adapter.broadcasts.at(-1)).toEqual({
          event: ChatEvent.StopTyping,
          data: stateOf(false),
          ...typingTo(),
        });
        await quickService.startTyping(alice, chat.id, 'socket-1');
        expect(events()).toEqual([ChatEvent.Typing, ChatEvent.StopTyping, ChatEvent.Typing]);
      } finally {
        quickService.onModuleDestroy();
      }
    });
  });

  it('works before the Socket.IO server exists, with nobody to tell', async () => {
    const detached = new ChatService(repository, new RealtimeServer(), config);

    const chat = await detached.createChat(alice, { participantIds: ['bob'] });
    const { message } = await detached.sendMessage(bob, { chatId: chat.id, content: 'early' });

    expect(repository.storedMessages(chat.id)).toEqual([message]);
    detached.onModuleDestroy();
  });
});
