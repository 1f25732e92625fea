import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { DatabaseTarget } from '../../src/config/app-config.js';
import type { ChatRepository } from '../../src/chat/chat.repository.js';
import type { Chat, ChatMessage } from '../../src/chat/chat.types.js';
import { KyselyChatRepository } from '../../src/chat/kysely-chat.repository.js';
import { DatabaseService } from '../../src/database/database.service.js';
import { InCodeMigrationProvider } from '../../src/database/migrations/index.js';
import type { ChatMessagesTable, ChatsTable, DatabaseSchema } from '../../src/database/schema.js';
import { AppError } from '../../src/common/errors.js';
import { itemAt } from '../support/items.js';
import { InMemoryChatRepository } from '../support/memory-chat.repository.js';
import { describeWithPostgres, startPostgres, type TestPostgres } from '../support/postgres.js';

const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const CLUSTER_START_TIMEOUT_MS = 120_000;

const newUser = (): string => `user-${randomUUID()}`;

/**
 * The cases every `ChatRepository` must pass, whatever is behind it: each database, and the
 * in-memory double the unit tests build on, so that the double cannot drift from the real thing.
 */
function chatRepositoryContract(repository: () => ChatRepository): void {
  const createChat = (participantIds: [string, ...string[]], title: string | null = 'Team'): Promise<Chat> =>
    repository().createChat({ title, participantIds, createdBy: participantIds[0] });

  const send = async (chatId: string, senderId: string, content: string): Promise<ChatMessage> =>
    (await repository().insertMessage({ chatId, senderId, content })).message;

  const sendMany = async (chatId: string, senderId: string, count: number): Promise<ChatMessage[]> => {
    const messages: ChatMessage[] = [];
    for (let index = 1; index <= count; index++)
      messages.push(await send(chatId, senderId, `message ${index}`));
    return messages;
  };

  const ids = (messages: ChatMessage[]): number[] => messages.map((message) => message.id);

  it('creates a chat and finds it by id', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const chat = await repository().createChat({
      title: 'Launch',
      participantIds: [alice, bob, alice],
      createdBy: alice,
    });

    expect(chat.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(chat).toEqual({
      id: chat.id,
      title: 'Launch',
      participantIds: [alice, bob].sort(),
      createdBy: alice,
      createdAt: expect.stringMatching(ISO_TIMESTAMP),
    });
    expect(await repository().findChat(chat.id)).toEqual(chat);

    const untitled = await createChat([bob], null);
    expect((await repository().findChat(untitled.id))?.title).toBeNull();
  });

  it('adds and removes members idempotently', async () => {
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const chat = await createChat([alice, bob]);

    expect(await repository().isParticipant(chat.id, carol)).toBe(false);
    expect(await repository().addMember(chat.id, carol)).toBe(true);
    expect(await repository().addMember(chat.id, carol)).toBe(false);
    expect(await repository().isParticipant(chat.id, carol)).toBe(true);
    expect((await repository().findChat(chat.id))?.participantIds.sort()).toEqual([alice, bob, carol].sort());

    expect(await repository().removeMember(chat.id, bob)).toBe(true);
    expect(await repository().removeMember(chat.id, bob)).toBe(false);
    expect(await repository().isParticipant(chat.id, bob)).toBe(false);
    expect((await repository().findChat(chat.id))?.participantIds.sort()).toEqual([alice, carol].sort());
  });

  it('lists the ids of exactly the chats a user belongs to', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const [shared, aliceOnly, bobOnly] = [
      await createChat([alice, bob]),
      await createChat([alice]),
      await createChat([bob]),
    ];
    const left = await createChat([alice, bob]);
    await repository().removeMember(left.id, alice);

    expect(await repository().chatIdsForUser(alice)).toEqual([shared.id, aliceOnly.id].sort());
    expect(await repository().chatIdsForUser(bob)).toEqual([shared.id, bobOnly.id, left.id].sort());
  });

  it('lists a user’s small chats with their members, and who shares a chat with them', async () => {
    const [alice, bob, carol, dave, stranger] = [newUser(), newUser(), newUser(), newUser(), newUser()];
    const pair = await createChat([alice, bob]);
    const crowd = await createChat([alice, bob, carol, dave]);
    const pairOfOthers = await createChat([carol, dave]);

    expect(await repository().smallChatsOf([alice], 2)).toEqual(
      new Map([[alice, [{ chatId: pair.id, memberIds: [alice, bob].sort() }]]]),
    );
    const small = await repository().smallChatsOf([alice, carol, stranger, alice], 4);
    expect([...small.keys()]).toEqual([alice, carol, stranger]);
    expect(small.get(alice)?.map((chat) => chat.chatId)).toEqual([pair.id, crowd.id].sort());
    expect(small.get(alice)?.find((chat) => chat.chatId === crowd.id)?.memberIds).toEqual(
      [alice, bob, carol, dave].sort(),
    );
    expect(small.get(carol)?.map((chat) => chat.chatId)).toEqual([crowd.id, pairOfOthers.id].sort());
    expect(small.get(stranger)).toEqual([]);
    // Exactly at the limit counts as small; one member over does not.
    expect((await repository().smallChatsOf([carol], 3)).get(carol)?.map((chat) => chat.chatId)).toEqual([
      pairOfOthers.id,
    ]);

    expect(await repository().usersSharingAChat(bob, [alice, carol, stranger, alice])).toEqual(
      [alice, carol].sort(),
    );
    expect(await repository().usersSharingAChat(stranger, [alice])).toEqual([]);
    expect(await repository().usersSharingAChat(alice, [])).toEqual([]);
  });

  it('stores messages with ids increasing within each chat', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const first = await createChat([alice, bob]);
    const second = await createChat([alice, bob]);

    const stored: ChatMessage[] = [];
    for (let index = 0; index < 6; index++) {
      stored.push(
        await send(index % 2 === 0 ? first.id : second.id, index % 3 === 0 ? alice : bob, `hello ${index}`),
      );
    }
    const inFirst = stored.filter((message) => message.chatId === first.id);

    expect(stored[0]).toEqual({
      id: expect.any(Number),
      chatId: first.id,
      seq: 1,
      senderId: alice,
      content: 'hello 0',
      createdAt: expect.stringMatching(ISO_TIMESTAMP),
    });
    for (const message of stored) expect(Number.isSafeInteger(message.id) && message.id > 0).toBe(true);
    const firstIds = ids(inFirst);
    expect(firstIds).toEqual([...firstIds].sort((a, b) => a - b));
    expect(new Set(firstIds).size).toBe(firstIds.length);

    const page = await repository().findMessagesAfter(first.id, undefined, 10);
    expect(page).toEqual({ messages: inFirst, hasMore: false });
    const secondInFirst = itemAt(inFirst, 1);
    expect(await repository().findMessage(secondInFirst.id)).toEqual(secondInFirst);
  });

  it('stores a message once per clientId and returns the stored one on a retry', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const chat = await createChat([alice, bob]);
    const other = await createChat([alice, bob]);

    const first = await repository().insertMessage({
      chatId: chat.id,
      senderId: alice,
      content: 'hi',
      clientId: 'c-1',
    });
    const retry = await repository().insertMessage({
      chatId: chat.id,
      senderId: alice,
      content: 'hi again',
      clientId: 'c-1',
    });
    const otherSender = await repository().insertMessage({
      chatId: chat.id,
      senderId: bob,
      content: 'hi',
      clientId: 'c-1',
    });
    const otherChat = await repository().insertMessage({
      chatId: other.id,
      senderId: alice,
      content: 'hi',
      clientId: 'c-1',
    });

    expect(first).toEqual({
      created: true,
      message: expect.objectContaining({ content: 'hi', clientId: 'c-1' }),
    });
    expect(retry).toEqual({ created: false, message: first.message });
    expect(otherSender.created).toBe(true);
    expect(otherChat.created).toBe(true);
    expect(new Set([first.message.id, otherSender.message.id, otherChat.message.id]).size).toBe(3);

    const [sameOnce, sameAgain] = [await send(chat.id, alice, 'same'), await send(chat.id, alice, 'same')];
    expect(sameOnce.id).not.toBe(sameAgain.id);
    expect(sameOnce).not.toHaveProperty('clientId');

    const page = await repository().findMessagesAfter(chat.id, undefined, 10);
    expect(ids(page.messages)).toEqual([first.message.id, otherSender.message.id, sameOnce.id, sameAgain.id]);
  });

  it('stores one row when the same clientId is inserted concurrently', async () => {
    const alice = newUser();
    const chat = await createChat([alice]);

    const results = await Promise.all(
      Array.from({ length: 10 }, (_, attempt) =>
        repository().insertMessage({
          chatId: chat.id,
          senderId: alice,
          content: `attempt ${attempt}`,
          clientId: 'burst',
        }),
      ),
    );

    expect(results.filter((result) => result.created)).toHaveLength(1);
    expect(new Set(results.map((result) => result.message.id)).size).toBe(1);
    const page = await repository().findMessagesAfter(chat.id, undefined, 20);
    expect(page.messages).toHaveLength(1);
    expect(page.messages[0]).toEqual(results.find((result) => result.created)?.message);
  });

  it('edits a message and keeps its editedAt', async () => {
    const alice = newUser();
    const chat = await createChat([alice]);
    const original = await send(chat.id, alice, 'draft');
    const editedAt = new Date('2031-02-03T04:05:06.789Z');

    const result = await repository().editMessage(original.id, 'final', editedAt);

    const edited = { ...original, content: 'final', editedAt: '2031-02-03T04:05:06.789Z' };
    expect(result).toEqual({ status: 'edited', message: edited });
    expect(await repository().findMessage(original.id)).toEqual(edited);
    expect((await repository().findMessagesAfter(chat.id, undefined, 5)).messages).toEqual([edited]);
  });

  it('deletes a message by dropping its content and keeping its id', async () => {
    const alice = newUser();
    const chat = await createChat([alice]);
    const original = (
      await repository().insertMessage({ chatId: chat.id, senderId: alice, content: 'oops', clientId: 'd-1' })
    ).message;
    const later = await send(chat.id, alice, 'still here');
    const deletedAt = new Date('2031-05-06T07:08:09.012Z');

    const result = await repository().deleteMessage(original.id, deletedAt);

    const deleted = { ...original, content: null, deletedAt: '2031-05-06T07:08:09.012Z' };
    expect(result).toEqual({ status: 'deleted', message: deleted });
    expect(await repository().findMessage(original.id)).toEqual(deleted);
    expect((await repository().findMessagesAfter(chat.id, undefined, 5)).messages).toEqual([deleted, later]);

    expect(await repository().deleteMessage(original.id, new Date('2032-01-01T00:00:00.000Z'))).toEqual({
      status: 'already_deleted',
      message: deleted,
    });
    expect(await repository().editMessage(original.id, 'revived', new Date())).toEqual({
      status: 'was_deleted',
    });
    expect(await repository().findMessage(original.id)).toEqual(deleted);

    const retry = await repository().insertMessage({
      chatId: chat.id,
      senderId: alice,
      content: 'oops',
      clientId: 'd-1',
    });
    expect(retry).toEqual({ created: false, message: deleted });
  });

  it('pages forwards after a cursor with hasMore', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const chat = await createChat([alice, bob]);
    const noise = await createChat([alice]);
    const messages: ChatMessage[] = [];
    for (let index = 0; index < 7; index++) {
      messages.push(await send(chat.id, index % 2 === 0 ? alice : bob, `m${index}`));
      await send(noise.id, alice, `noise ${index}`);
    }
    const after = (cursor: number | undefined) => repository().findMessagesAfter(chat.id, cursor, 3);
    const idAt = (index: number): number => itemAt(messages, index).id;

    expect(await after(undefined)).toEqual({ messages: messages.slice(0, 3), hasMore: true });
    expect(await after(idAt(2))).toEqual({ messages: messages.slice(3, 6), hasMore: true });
    expect(await after(idAt(5))).toEqual({ messages: messages.slice(6), hasMore: false });
    expect(await after(idAt(6))).toEqual({ messages: [], hasMore: false });
    expect(await repository().findMessagesAfter(chat.id, idAt(0), 6)).toEqual({
      messages: messages.slice(1),
      hasMore: false,
    });
    expect(await repository().findMessagesAfter(chat.id, undefined, 6)).toEqual({
      messages: messages.slice(0, 6),
      hasMore: true,
    });
  });

  it('pages backwards before a cursor, each page oldest first', async () => {
    const alice = newUser();
    const chat = await createChat([alice]);
    const noise = await createChat([alice]);
    const messages: ChatMessage[] = [];
    for (let index = 0; index < 7; index++) {
      messages.push(await send(chat.id, alice, `m${index}`));
      await send(noise.id, alice, `noise ${index}`);
    }
    const before = (cursor: number | undefined) => repository().findMessagesBefore(chat.id, cursor, 3);
    const idAt = (index: number): number => itemAt(messages, index).id;

    expect(await before(undefined)).toEqual({ messages: messages.slice(4), hasMore: true });
    expect(await before(idAt(4))).toEqual({ messages: messages.slice(1, 4), hasMore: true });
    expect(await before(idAt(1))).toEqual({ messages: messages.slice(0, 1), hasMore: false });
    expect(await before(idAt(0))).toEqual({ messages: [], hasMore: false });
    expect(await repository().findMessagesBefore(chat.id, undefined, 7)).toEqual({
      messages,
      hasMore: false,
    });
  });

  it('moves the read position forward only, and only to messages of the chat', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const chat = await createChat([alice, bob]);
    const other = await createChat([alice, bob]);
    const messages = await sendMany(chat.id, bob, 5);
    const elsewhere = await send(other.id, bob, 'elsewhere');
    const idAt = (index: number): number => itemAt(messages, index).id;

    expect(await repository().markRead(chat.id, alice, idAt(2))).toBe(idAt(2));
    expect(await repository().markRead(chat.id, alice, idAt(0))).toBe(idAt(2));
    expect(await repository().markRead(chat.id, alice, idAt(2))).toBe(idAt(2));
    expect(await repository().markRead(chat.id, alice, elsewhere.id)).toBeNull();
    expect(await repository().markRead(chat.id, alice, idAt(4))).toBe(idAt(4));
    expect(await repository().markRead(chat.id, alice, idAt(1))).toBe(idAt(4));

    expect(await repository().markRead(chat.id, bob, idAt(1))).toBe(idAt(1));
    expect(await repository().markRead(other.id, alice, elsewhere.id)).toBe(elsewhere.id);
    expect(await repository().markRead(chat.id, newUser(), elsewhere.id)).toBeNull();
  });

  it('summarises a user’s chats by recent activity with last message and unread count', async () => {
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const quiet = await createChat([alice, bob], 'quiet');
    const withBob = await createChat([alice, bob], 'bob');
    const withCarol = await createChat([alice, carol], 'carol');

    const fromBob = await sendMany(withBob.id, bob, 3);
    await send(withBob.id, alice, 'from alice');
    const fromCarol = await sendMany(withCarol.id, carol, 2);
    const lastFromBob = await send(withBob.id, bob, 'latest from bob');

    const summaries = await repository().listChatsForUser(alice);
    expect(summaries.map((summary) => summary.id)).toEqual([withBob.id, withCarol.id, quiet.id]);
    const unread = { readPositions: [] };
    expect(summaries[0]).toEqual({
      ...withBob,
      lastMessage: lastFromBob,
      lastSeq: 5,
      unreadCount: 4,
      ...unread,
    });
    expect(summaries[1]).toEqual({
      ...withCarol,
      lastMessage: fromCarol[1],
      lastSeq: 2,
      unreadCount: 2,
      ...unread,
    });
    expect(summaries[2]).toEqual({ ...quiet, lastMessage: null, lastSeq: 0, unreadCount: 0, ...unread });

    await repository().markRead(withBob.id, alice, itemAt(fromBob, 1).id);
    await repository().deleteMessage(lastFromBob.id, new Date());
    const afterRead = await repository().listChatsForUser(alice);
    expect(afterRead[0]).toMatchObject({
      id: withBob.id,
      lastSeq: 5,
      unreadCount: 1,
      readPositions: [{ userId: alice, messageId: itemAt(fromBob, 1).id }],
    });
    expect(itemAt(afterRead, 0).lastMessage).toEqual(await repository().findMessage(lastFromBob.id));
    expect(itemAt(afterRead, 0).lastMessage?.content).toBeNull();

    const newest = await send(withCarol.id, carol, 'carol again');
    const reordered = await repository().listChatsForUser(alice);
    expect(reordered.map((summary) => summary.id)).toEqual([withCarol.id, withBob.id, quiet.id]);
    expect(reordered[0]).toMatchObject({ lastMessage: newest, unreadCount: 3 });

    const forBob = await repository().listChatsForUser(bob);
    expect(forBob.map((summary) => summary.id)).toEqual([withBob.id, quiet.id]);
    expect(itemAt(forBob, 0).unreadCount).toBe(1);
  });

  it('numbers each chat’s messages 1, 2, 3, … and keeps the number through edits and deletes', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const first = await createChat([alice, bob]);
    const second = await createChat([alice, bob]);
    const inFirst: ChatMessage[] = [];
    const inSecond: ChatMessage[] = [];
    for (let index = 0; index < 4; index++) {
      inFirst.push(await send(first.id, alice, `first ${index}`));
      inSecond.push(await send(second.id, bob, `second ${index}`));
    }
    expect(inFirst.map((message) => message.seq)).toEqual([1, 2, 3, 4]);
    expect(inSecond.map((message) => message.seq)).toEqual([1, 2, 3, 4]);

    const edited = await repository().editMessage(itemAt(inFirst, 1).id, 'changed', new Date());
    const deleted = await repository().deleteMessage(itemAt(inFirst, 2).id, new Date());
    expect(edited).toMatchObject({ status: 'edited', message: { seq: 2 } });
    expect(deleted).toMatchObject({ status: 'deleted', message: { seq: 3 } });
    expect((await send(first.id, bob, 'after the changes')).seq).toBe(5);
  });

  it('gives a clientId retry the stored message without taking a seq', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const chat = await createChat([alice, bob]);
    const request = { chatId: chat.id, senderId: alice, content: 'once', clientId: 'retry-me' };
    const stored = await repository().insertMessage(request);
    const retries = await Promise.all([1, 2, 3].map(() => repository().insertMessage(request)));

    expect(stored.message.seq).toBe(1);
    for (const retry of retries) expect(retry).toEqual({ created: false, message: stored.message });
    expect((await send(chat.id, bob, 'next')).seq).toBe(2);
  });

  it('pages a chat by seq', async () => {
    const [alice] = [newUser()];
    const chat = await createChat([alice]);
    const other = await createChat([alice]);
    await sendMany(other.id, alice, 2);
    const messages = await sendMany(chat.id, alice, 5);

    expect(await repository().findMessagesAfterSeq(chat.id, 0, 3)).toEqual({
      messages: messages.slice(0, 3),
      hasMore: true,
    });
    expect(await repository().findMessagesAfterSeq(chat.id, 3, 3)).toEqual({
      messages: messages.slice(3),
      hasMore: false,
    });
    expect(await repository().findMessagesAfterSeq(chat.id, 5, 3)).toEqual({ messages: [], hasMore: false });
    expect(await repository().findMessagesAfterSeq(randomUUID(), 0, 3)).toEqual({
      messages: [],
      hasMore: false,
    });
  });

  it('finds the messages changed since a moment, up to a seq, in the order they changed', async () => {
    const [alice] = [newUser()];
    const chat = await createChat([alice]);
    const messages = await sendMany(chat.id, alice, 6);
    const at = (second: number) => new Date(Date.UTC(2031, 0, 1, 0, 0, second));
    await repository().editMessage(itemAt(messages, 0).id, 'old edit', at(1));
    await repository().deleteMessage(itemAt(messages, 3).id, at(12));
    await repository().editMessage(itemAt(messages, 1).id, 'new edit', at(11));
    await repository().editMessage(itemAt(messages, 2).id, 'edit, then delete', at(5));
    await repository().deleteMessage(itemAt(messages, 2).id, at(13));
    await repository().editMessage(itemAt(messages, 5).id, 'beyond upToSeq', at(14));

    const changed = await repository().findMessagesChangedSince(chat.id, at(10), 5, 10);
    expect(changed.hasMore).toBe(false);
    expect(changed.messages.map((message) => [message.seq, message.content])).toEqual([
      [2, 'new edit'],
      [4, null],
      [3, null],
    ]);
    const firstPage = await repository().findMessagesChangedSince(chat.id, at(10), 5, 2);
    expect(firstPage.messages.map((message) => message.seq)).toEqual([2, 4]);
    expect(firstPage.hasMore).toBe(true);
    expect(await repository().findMessagesChangedSince(chat.id, at(20), 6, 10)).toEqual({
      messages: [],
      hasMore: false,
    });
  });

  it('answers unknown ids with empty results', async () => {
    const stranger = newUser();
    const unknownChat = randomUUID();

    expect(await repository().findChat(unknownChat)).toBeNull();
    expect(await repository().findChat('not-a-uuid')).toBeNull();
    expect(await repository().listChatsForUser(stranger)).toEqual([]);
    expect(await repository().chatIdsForUser(stranger)).toEqual([]);
    expect(await repository().isParticipant(unknownChat, stranger)).toBe(false);
    expect(await repository().removeMember(unknownChat, stranger)).toBe(false);
    for (const messageId of [987_654_321, 0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
      expect(await repository().findMessage(messageId)).toBeNull();
      expect(await repository().editMessage(messageId, 'x', new Date())).toEqual({ status: 'not_found' });
      expect(await repository().deleteMessage(messageId, new Date())).toEqual({ status: 'not_found' });
    }
    const chat = await createChat([stranger]);
    expect(await repository().markRead(chat.id, stranger, 987_654_321)).toBeNull();
    expect(await repository().findMessagesAfter(unknownChat, undefined, 10)).toEqual({
      messages: [],
      hasMore: false,
    });
    expect(await repository().findMessagesBefore(unknownChat, undefined, 10)).toEqual({
      messages: [],
      hasMore: false,
    });
  });
}

/** Runs the contract against a database opened once for the whole suite. */
function describeContractOn(
  title: string,
  openTarget: () => Promise<DatabaseTarget>,
  cleanUp: () => Promise<void>,
  /** Whether other connections can open the same database (a file or a server, not `:memory:`). */
  shared = true,
): void {
  describe(title, () => {
    let target: DatabaseTarget | undefined;
    let database: DatabaseService | undefined;
    let repository: ChatRepository | undefined;

    beforeAll(async () => {
      target = await openTarget();
      database = await DatabaseService.connect(target);
      repository = new KyselyChatRepository(database);
    }, CLUSTER_START_TIMEOUT_MS);

    afterAll(async () => {
      await database?.close();
      await cleanUp();
    }, CLUSTER_START_TIMEOUT_MS);

    const opened = (): { target: DatabaseTarget; database: DatabaseService; repository: ChatRepository } => {
      if (!target || !database || !repository) throw new Error('The database did not open');
      return { target, database, repository };
    };

    it('reports the database healthy', async () => {
      const health = await opened().database.checkHealth();
      expect(health.status).toBe('up');
      expect(health.latencyMs).toEqual(expect.any(Number));
      expect(health.error).toBeUndefined();
    });

    chatRepositoryContract(() => opened().repository);

    if (shared) {
      it('keeps each chat’s seq contiguous under concurrent inserts from several connections', async () => {
        const { target } = opened();
        const connections = await Promise.all([1, 2, 3].map(() => DatabaseService.connect(target)));
        try {
          const writers = connections.map((connection) => new KyselyChatRepository(connection));
          const [alice, bob] = [newUser(), newUser()];
          const chats = [
            await opened().repository.createChat({
              title: null,
              participantIds: [alice, bob],
              createdBy: alice,
            }),
            await opened().repository.createChat({
              title: null,
              participantIds: [alice, bob],
              createdBy: alice,
            }),
          ];
          const inserts = Array.from({ length: 120 }, (_, index) => {
            const writer = itemAt(writers, index % writers.length);
            const chat = itemAt(chats, index % 2);
            // Every fourth insert repeats the clientId of the one before it in the same chat.
            const clientId = index % 4 === 3 ? `c-${index - 2}` : `c-${index}`;
            return writer.insertMessage({
              chatId: chat.id,
              senderId: alice,
              content: `m ${index}`,
              clientId,
            });
          });
          const results = await Promise.all(inserts);

          const created = results.filter((result) => result.created).map((result) => result.message);
          expect(created).toHaveLength(90);
          for (const chat of chats) {
            const createdHere = created.filter((message) => message.chatId === chat.id);
            const contiguous = Array.from({ length: createdHere.length }, (_, index) => index + 1);
            expect(createdHere.map((message) => message.seq).sort((a, b) => a - b)).toEqual(contiguous);
            const stored = await opened().repository.findMessagesAfterSeq(chat.id, 0, 200);
            expect(stored.messages.map((message) => message.seq)).toEqual(contiguous);
            const summary = (await opened().repository.listChatsForUser(bob)).find(
              (entry) => entry.id === chat.id,
            );
            expect(summary?.lastSeq).toBe(createdHere.length);
          }
        } finally {
          await Promise.all(connections.map((connection) => connection.close()));
        }
      });

      it('numbers the messages stored before the seq existed, in id order, per chat', async () => {
        const scratch = await freshDatabaseLike(opened().target);
        try {
          await migrateUpTo(scratch.target, '0001-create-chat-tables', async (db) => {
            await db
              .insertInto('chats')
              .values([
                { id: 'chat-a', title: null, created_by: 'alice', created_at: 1 },
                { id: 'chat-b', title: null, created_by: 'alice', created_at: 1 },
              ])
              .execute();
            await db
              .insertInto('chat_members')
              .values([
                { chat_id: 'chat-a', user_id: 'alice', joined_at: 1 },
                { chat_id: 'chat-b', user_id: 'alice', joined_at: 1 },
              ])
              .execute();
            for (const [index, chatId] of ['chat-a', 'chat-b', 'chat-a', 'chat-a', 'chat-b'].entries()) {
              await db
                .insertInto('chat_messages')
                .values({
                  chat_id: chatId,
                  sender_id: 'alice',
                  content: `old ${index}`,
                  client_id: null,
                  created_at: 10 + index,
                })
                .execute();
            }
          });

          const migrated = await DatabaseService.connect(scratch.target);
          try {
            const repository = new KyselyChatRepository(migrated);
            const seqs = async (chatId: string) =>
              (await repository.findMessagesAfterSeq(chatId, 0, 10)).messages.map((message) => [
                message.seq,
                message.content,
              ]);
            expect(await seqs('chat-a')).toEqual([
              [1, 'old 0'],
              [2, 'old 2'],
              [3, 'old 3'],
            ]);
            expect(await seqs('chat-b')).toEqual([
              [1, 'old 1'],
              [2, 'old 4'],
            ]);
            expect(
              (await repository.insertMessage({ chatId: 'chat-a', senderId: 'alice', content: 'new' }))
                .message.seq,
            ).toBe(4);
            const summaries = await repository.listChatsForUser('alice');
            expect(summaries.map((summary) => [summary.id, summary.lastSeq])).toEqual([
              ['chat-a', 4],
              ['chat-b', 2],
            ]);
          } finally {
            await migrated.close();
          }
        } finally {
          await scratch.remove();
        }
      });
    }
  });
}

/** An empty database beside `target`: another file in its directory, another database on its server. */
async function freshDatabaseLike(
  target: DatabaseTarget,
): Promise<{ target: DatabaseTarget; remove: () => Promise<void> }> {
  const name = `scratch_${randomUUID().replaceAll('-', '')}`;
  if (target.kind === 'sqlite') {
    const filename = join(dirname(target.filename), `${name}.db`);
    return {
      target: { kind: 'sqlite', filename },
      remove: () => rm(filename, { force: true }).then(() => undefined),
    };
  }
  const admin = new pg.Client({ connectionString: target.connectionString });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(target.connectionString);
  url.pathname = `/${name}`;
  return {
    target: { ...target, connectionString: url.toString() },
    remove: async () => {
      await admin.query(`drop database ${name} with (force)`);
      await admin.end();
    },
  };
}

type SchemaBefore0002 = Omit<DatabaseSchema, 'chats' | 'chat_messages'> & {
  chats: Omit<ChatsTable, 'last_seq'>;
  chat_messages: Omit<ChatMessagesTable, 'seq'>;
};

/** Applies the migrations up to `last` only, then lets `fill` write rows in that older schema. */
async function migrateUpTo(
  target: DatabaseTarget,
  last: string,
  fill: (db: Kysely<SchemaBefore0002>) => Promise<void>,
): Promise<void> {
  const db = new Kysely<SchemaBefore0002>({
    dialect:
      target.kind === 'sqlite'
        ? new SqliteDialect({ database: new BetterSqlite3(target.filename) })
        : new PostgresDialect({ pool: new pg.Pool({ connectionString: target.connectionString, max: 1 }) }),
  });
  try {
    const migrator = new Migrator({ db, provider: new InCodeMigrationProvider(target.kind) });
    const { error } = await migrator.migrateTo(last);
    if (error) throw new Error(`Migrating to ${last} failed`, { cause: error });
    await fill(db);
  } finally {
    await db.destroy();
  }
}

describe('InMemoryChatRepository (the unit tests’ double)', () => {
  const repository = new InMemoryChatRepository();
  chatRepositoryContract(() => repository);
});

describeContractOn(
  'KyselyChatRepository on SQLite in memory',
  () => Promise.resolve({ kind: 'sqlite', filename: ':memory:' }),
  () => Promise.resolve(),
  false,
);

let sqliteDirectory: string | undefined;
describeContractOn(
  'KyselyChatRepository on a SQLite file',
  async () => {
    sqliteDirectory = await mkdtemp(join(tmpdir(), 'switchboard-sqlite-'));
    return { kind: 'sqlite', filename: join(sqliteDirectory, 'contract.db') };
  },
  async () => {
    if (sqliteDirectory) await rm(sqliteDirectory, { recursive: true, force: true });
  },
);

let postgres: TestPostgres | undefined;
describeWithPostgres('KyselyChatRepository on PostgreSQL', () => {
  describeContractOn(
    'contract',
    async () => {
      postgres = await startPostgres();
      return { kind: 'postgres', connectionString: postgres.connectionString, poolSize: 10 };
    },
    async () => {
      await postgres?.stop();
    },
  );
});

describe('DatabaseService on a SQLite file', () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'switchboard-sqlite-'));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('creates the parent directory and enables WAL and foreign keys', async () => {
    const database = await DatabaseService.connect({
      kind: 'sqlite',
      filename: join(directory, 'a', 'b', 'fresh.db'),
    });
    try {
      const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.db);
      const foreignKeys = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(database.db);
      expect(journal.rows).toEqual([{ journal_mode: 'wal' }]);
      expect(foreignKeys.rows).toEqual([{ foreign_keys: 1 }]);
    } finally {
      await database.close();
    }
  });

  it('keeps every write across closing and reopening the file', async () => {
    const target: DatabaseTarget = { kind: 'sqlite', filename: join(directory, 'reopen.db') };
    const [alice, bob] = [newUser(), newUser()];

    const first = await DatabaseService.connect(target);
    const writer = new KyselyChatRepository(first);
    const chat = await writer.createChat({
      title: 'Durable',
      participantIds: [alice, bob],
      createdBy: alice,
    });
    const sent = await writer.insertMessage({
      chatId: chat.id,
      senderId: bob,
      content: 'one',
      clientId: 'keep',
    });
    const second = await writer.insertMessage({ chatId: chat.id, senderId: bob, content: 'two' });
    await writer.insertMessage({ chatId: chat.id, senderId: bob, content: 'three' });
    await writer.editMessage(second.message.id, 'two, edited', new Date('2030-01-01T00:00:00.000Z'));
    await writer.markRead(chat.id, alice, sent.message.id);
    const summariesBefore = await writer.listChatsForUser(alice);
    const messagesBefore = await writer.findMessagesAfter(chat.id, undefined, 10);
    await first.close();

    const reopened = await DatabaseService.connect(target);
    try {
      const reader = new KyselyChatRepository(reopened);
      expect(await reader.findChat(chat.id)).toEqual(chat);
      expect(await reader.findMessagesAfter(chat.id, undefined, 10)).toEqual(messagesBefore);
      expect(await reader.listChatsForUser(alice)).toEqual(summariesBefore);
      expect(itemAt(summariesBefore, 0).unreadCount).toBe(2);
      expect(
        await reader.insertMessage({ chatId: chat.id, senderId: bob, content: 'again', clientId: 'keep' }),
      ).toEqual({
        created: false,
        message: sent.message,
      });
      const next = await reader.insertMessage({ chatId: chat.id, senderId: alice, content: 'four' });
      expect(next.message.id).toBeGreaterThan(
        Math.max(...messagesBefore.messages.map((message) => message.id)),
      );
    } finally {
      await reopened.close();
    }
  });
});

describeWithPostgres('DatabaseService when PostgreSQL goes down', () => {
  it(
    'rejects writes with SERVICE_UNAVAILABLE and reports the database down',
    async () => {
      const cluster = await startPostgres();
      const database = await DatabaseService.connect({
        kind: 'postgres',
        connectionString: cluster.connectionString,
        poolSize: 2,
      });
      try {
        const repository = new KyselyChatRepository(database);
        const chat = await repository.createChat({
          title: null,
          participantIds: ['alice'],
          createdBy: 'alice',
        });
        await expect(
          repository.insertMessage({ chatId: chat.id, senderId: 'alice', content: 'before' }),
        ).resolves.toEqual(expect.objectContaining({ created: true }));

        await cluster.stop();

        const write = repository.insertMessage({ chatId: chat.id, senderId: 'alice', content: 'after' });
        await expect(write).rejects.toBeInstanceOf(AppError);
        await expect(write).rejects.toMatchObject({
          code: 'SERVICE_UNAVAILABLE',
          message: 'Database unavailable',
        });
        const health = await database.checkHealth();
        expect(health.status).toBe('down');
        expect(health.error).toMatch(/^Database unavailable: /);
      } finally {
        await database.close();
        await cluster.stop();
      }
    },
    CLUSTER_START_TIMEOUT_MS,
  );
});
