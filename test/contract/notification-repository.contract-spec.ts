import { randomUUID } from 'node:crypto';
import { DatabaseService } from '../../src/database/database.service.js';
import { KyselyNotificationRepository } from '../../src/notifications/kysely-notification.repository.js';
import type {
  NewNotifications,
  NotificationRepository,
} from '../../src/notifications/notification.repository.js';
import type { Notification } from '../../src/notifications/notifications.events.js';
import { describeOnEachDatabase } from '../support/contract-databases.js';
import { itemAt } from '../support/items.js';
import { InMemoryNotificationRepository } from '../support/memory-notification.repository.js';

const PUBLISHED_AT = new Date('2031-05-06T07:08:09.123Z');
/** Later than anything a case stores: deleting what was created before it empties the store. */
const END_OF_TIME = new Date('9999-12-31T00:00:00.000Z');

const newUser = (): string => `user-${randomUUID()}`;
const ids = (notifications: readonly Notification[]): number[] => notifications.map(({ id }) => id);

/**
 * The cases every `NotificationRepository` must pass, whatever is behind it: each database, and
 * the in-memory double the unit tests build on, so that the double cannot drift from the real
 * thing. Broadcasts reach every inbox, so the cases that read whole inboxes first empty the store.
 */
function notificationRepositoryContract(repository: () => NotificationRepository): void {
  const notify = async (
    to: NewNotifications['to'],
    title = 'Title',
    extra: Partial<Omit<NewNotifications, 'to' | 'title'>> = {},
  ): Promise<Notification[]> =>
    repository().insert({
      to,
      title,
      body: `About ${title}`,
      level: 'info',
      data: undefined,
      createdAt: PUBLISHED_AT,
      ...extra,
    });
  const notifyOne = async (userId: string, title = 'Title'): Promise<Notification> =>
    itemAt(await notify({ userIds: [userId] }, title), 0);
  const broadcast = async (title = 'Everyone'): Promise<Notification> =>
    itemAt(await notify({ broadcast: true }, title), 0);
  const emptyStore = async (): Promise<void> => {
    await repository().deleteCreatedBefore(END_OF_TIME);
  };
  const read = (notification: Notification): Notification => ({ ...notification, read: true });
  const wholeInbox = async (userId: string, unreadOnly = false): Promise<Notification[]> => {
    const page = await repository().inbox(userId, { unreadOnly, limit: 200 });
    expect(page.hasMore).toBe(false);
    return page.notifications;
  };

  it('stores one notification per user, unread, answered in the order named', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const stored = await notify({ userIds: [bob, alice, bob] }, 'Deploy', {
      body: 'Deploy finished',
      level: 'success',
      data: { build: 42 },
    });

    expect(stored).toEqual([
      {
        id: expect.any(Number),
        userId: bob,
        title: 'Deploy',
        body: 'Deploy finished',
        level: 'success',
        data: { build: 42 },
        timestamp: PUBLISHED_AT.toISOString(),
        read: false,
      },
      { ...itemAt(stored, 0), id: expect.any(Number), userId: alice },
    ]);
    for (const { id } of stored) expect(Number.isSafeInteger(id) && id > 0).toBe(true);
    expect(new Set(ids(stored)).size).toBe(2);

    const [forBob, forAlice] = stored;
    expect((await repository().inbox(alice, { unreadOnly: false, limit: 1 })).notifications).toEqual([
      forAlice,
    ]);
    expect(await repository().after(alice, itemAt(ids(stored), 0) - 1, 10)).toEqual({
      notifications: [forAlice],
      hasMore: false,
    });
    expect(await repository().after(bob, itemAt(ids(stored), 0) - 1, 10)).toEqual({
      notifications: [forBob],
      hasMore: false,
    });
    expect(await repository().insert({ ...sample(), to: { userIds: [] } })).toEqual([]);
  });

  it('puts one broadcast in every inbox, including users who first appear after it', async () => {
    await emptyStore();
    const alice = newUser();
    const own = await notifyOne(alice, 'Yours');
    const everyone = await broadcast('Maintenance tonight');
    expect(everyone).toEqual({
      id: expect.any(Number),
      title: 'Maintenance tonight',
      body: 'About Maintenance tonight',
      level: 'info',
      data: null,
      timestamp: PUBLISHED_AT.toISOString(),
      read: false,
    });
    expect('userId' in everyone).toBe(false);
    expect(everyone.id).toBeGreaterThan(own.id);

    expect(await wholeInbox(alice)).toEqual([everyone, own]);
    expect(await repository().unreadCount(alice)).toBe(2);
    const latecomer = newUser();
    expect(await wholeInbox(latecomer)).toEqual([everyone]);
    expect(await repository().unreadCount(latecomer)).toBe(1);
  });

  it('pages the inbox newest first with before and hasMore, never showing others’ notifications', async () => {
    await emptyStore();
    const [alice, bob] = [newUser(), newUser()];
    const visible: Notification[] = [];
    for (let index = 0; index < 7; index++) {
      visible.push(index % 3 === 1 ? await broadcast(`b${index}`) : await notifyOne(alice, `a${index}`));
      await notifyOne(bob, `bob ${index}`);
    }
    const newestFirst = [...visible].reverse();

    const first = await repository().inbox(alice, { unreadOnly: false, limit: 3 });
    expect(first).toEqual({ notifications: newestFirst.slice(0, 3), hasMore: true });
    const second = await repository().inbox(alice, {
      unreadOnly: false,
      before: itemAt(first.notifications, -1).id,
      limit: 3,
    });
    expect(second).toEqual({ notifications: newestFirst.slice(3, 6), hasMore: true });
    const last = await repository().inbox(alice, {
      unreadOnly: false,
      before: itemAt(second.notifications, -1).id,
      limit: 3,
    });
    expect(last).toEqual({ notifications: newestFirst.slice(6), hasMore: false });
    expect(await repository().inbox(alice, { unreadOnly: false, limit: 7 })).toEqual({
      notifications: newestFirst,
      hasMore: false,
    });
    expect(
      await repository().inbox(alice, { unreadOnly: false, before: itemAt(visible, 0).id, limit: 5 }),
    ).toEqual({ notifications: [], hasMore: false });
    expect((await wholeInbox(bob)).filter((notification) => notification.userId === alice)).toEqual([]);
  });

  it('filters the unread ones, and pages them', async () => {
    await emptyStore();
    const alice = newUser();
    const visible: Notification[] = [];
    for (let index = 0; index < 6; index++) {
      visible.push(index % 2 === 0 ? await notifyOne(alice, `a${index}`) : await broadcast(`b${index}`));
    }
    for (const index of [1, 2, 5])
      await repository().markRead(alice, itemAt(visible, index).id, PUBLISHED_AT);
    const unreadNewestFirst = [0, 3, 4].map((index) => itemAt(visible, index)).reverse();

    expect(await wholeInbox(alice, true)).toEqual(unreadNewestFirst);
    const first = await repository().inbox(alice, { unreadOnly: true, limit: 2 });
    expect(first).toEqual({ notifications: unreadNewestFirst.slice(0, 2), hasMore: true });
    expect(
      await repository().inbox(alice, {
        unreadOnly: true,
        before: itemAt(first.notifications, -1).id,
        limit: 2,
      }),
    ).toEqual({ notifications: unreadNewestFirst.slice(2), hasMore: false });
    expect(await repository().unreadCount(alice)).toBe(3);
    expect(await wholeInbox(alice)).toEqual(
      [...visible]
        .reverse()
        .map((notification, index) => ({ ...notification, read: [0, 3, 4].includes(index) })),
    );
  });

  it('keeps read state per user on a broadcast', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const everyone = await broadcast();

    expect(await repository().markRead(alice, everyone.id, PUBLISHED_AT)).toEqual(read(everyone));
    const [forAlice, forBob] = await Promise.all(
      [alice, bob].map(
        async (userId) => (await repository().after(userId, everyone.id - 1, 10)).notifications,
      ),
    );
    expect(forAlice).toEqual([read(everyone)]);
    expect(forBob).toEqual([everyone]);
    expect(await repository().unreadCount(bob)).toBe((await repository().unreadCount(alice)) + 1);
  });

  it('marks read only what the user can see, and once', async () => {
    await emptyStore();
    const [alice, bob] = [newUser(), newUser()];
    const forBob = await notifyOne(bob);
    const forAlice = await notifyOne(alice);

    expect(await repository().markRead(alice, forBob.id, PUBLISHED_AT)).toBeNull();
    expect(await wholeInbox(bob)).toEqual([forBob]);
    expect(await repository().unreadCount(bob)).toBe(1);

    expect(await repository().markRead(alice, forAlice.id, PUBLISHED_AT)).toEqual(read(forAlice));
    expect(await repository().markRead(alice, forAlice.id, new Date())).toEqual(read(forAlice));
    expect(await repository().unreadCount(alice)).toBe(0);
    expect(await wholeInbox(alice)).toEqual([read(forAlice)]);
  });

  it('marks everything read, counting what was unread, and leaves later ones unread', async () => {
    await emptyStore();
    const [alice, bob] = [newUser(), newUser()];
    const visible = [await notifyOne(alice), await broadcast(), await notifyOne(alice), await broadcast()];
    const forBob = await notifyOne(bob);
    await repository().markRead(alice, itemAt(visible, 1).id, PUBLISHED_AT);

    expect(await repository().markAllRead(alice, PUBLISHED_AT)).toBe(3);
    expect(await repository().unreadCount(alice)).toBe(0);
    expect(await wholeInbox(alice)).toEqual([...visible].reverse().map(read));
    expect(await wholeInbox(alice, true)).toEqual([]);
    expect(await repository().markAllRead(alice, PUBLISHED_AT)).toBe(0);
    expect(await repository().markRead(alice, itemAt(visible, 2).id, PUBLISHED_AT)).toEqual(
      read(itemAt(visible, 2)),
    );

    expect(await repository().unreadCount(bob)).toBe(3);
    expect(await wholeInbox(bob)).toEqual([forBob, itemAt(visible, 3), itemAt(visible, 1)]);

    const later = [await notifyOne(alice, 'later'), await broadcast('later')];
    expect(await repository().unreadCount(alice)).toBe(2);
    expect(await wholeInbox(alice, true)).toEqual([...later].reverse());
    expect(await repository().markRead(alice, itemAt(later, 1).id, PUBLISHED_AT)).toEqual(
      read(itemAt(later, 1)),
    );
    expect(await repository().markAllRead(alice, PUBLISHED_AT)).toBe(1);
    expect(await repository().unreadCount(alice)).toBe(0);
    expect(await repository().markAllRead(newUser(), PUBLISHED_AT)).toBe(3);
  });

  it('answers what was stored after an id, oldest first, with hasMore', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const start = await notifyOne(alice, 'start');
    const visible: Notification[] = [];
    for (let index = 0; index < 5; index++) {
      await notifyOne(bob, `bob ${index}`);
      visible.push(index % 2 === 0 ? await notifyOne(alice, `a${index}`) : await broadcast(`b${index}`));
    }
    await repository().markRead(alice, itemAt(visible, 1).id, PUBLISHED_AT);
    const seen = visible.map((notification, index) => (index === 1 ? read(notification) : notification));

    const first = await repository().after(alice, start.id, 3);
    expect(first).toEqual({ notifications: seen.slice(0, 3), hasMore: true });
    expect(await repository().after(alice, itemAt(first.notifications, -1).id, 3)).toEqual({
      notifications: seen.slice(3),
      hasMore: false,
    });
    expect(await repository().after(alice, itemAt(visible, -1).id, 3)).toEqual({
      notifications: [],
      hasMore: false,
    });
  });

  it('stores a notification for each of 1,000 users in one call', async () => {
    const users = Array.from({ length: 1000 }, () => newUser());
    const stored = await notify({ userIds: users }, 'Crowd', { data: { wave: 1 } });

    expect(stored.map((notification) => notification.userId)).toEqual(users);
    expect(new Set(ids(stored)).size).toBe(1000);
    for (const notification of stored) {
      expect(notification).toMatchObject({ title: 'Crowd', data: { wave: 1 }, read: false });
    }
    const firstId = Math.min(...ids(stored));
    for (const index of [0, 499, 999]) {
      const userId = itemAt(users, index);
      expect((await repository().after(userId, firstId - 1, 10)).notifications).toEqual([
        itemAt(stored, index),
      ]);
    }
  });

  it('deletes what was created before a moment, with its read state', async () => {
    const alice = newUser();
    const at = (iso: string) => ({ createdAt: new Date(iso) });
    const [old] = await notify({ userIds: [alice] }, 'old', at('2020-01-01T00:00:00.000Z'));
    const [oldBroadcast] = await notify({ broadcast: true }, 'old broadcast', at('2020-06-01T00:00:00.000Z'));
    const [recent] = await notify({ userIds: [alice] }, 'recent', at('2030-01-01T00:00:00.000Z'));
    if (!old || !oldBroadcast || !recent) throw new Error('Nothing stored');
    await repository().markRead(alice, old.id, PUBLISHED_AT);
    await repository().markRead(alice, oldBroadcast.id, PUBLISHED_AT);

    expect(
      await repository().deleteCreatedBefore(new Date('2025-01-01T00:00:00.000Z')),
    ).toBeGreaterThanOrEqual(2);
    expect(await repository().markRead(alice, old.id, PUBLISHED_AT)).toBeNull();
    expect(await repository().markRead(alice, oldBroadcast.id, PUBLISHED_AT)).toBeNull();
    expect((await repository().after(alice, old.id - 1, 10)).notifications).toEqual([recent]);
    expect(await repository().deleteCreatedBefore(new Date('2025-01-01T00:00:00.000Z'))).toBe(0);
    expect(await repository().deleteCreatedBefore(new Date(0))).toBe(0);
  });

  it('answers a publish receipt new, then pending, then done with the first result', async () => {
    const [service, other] = [newUser(), newUser()];
    const key = `key-${randomUUID()}`;
    const result = { targetedConnections: 3, stored: 2, nested: { list: [1, 'two', null] } };

    expect(await repository().claimReceipt(service, key, PUBLISHED_AT)).toEqual({ status: 'new' });
    expect(await repository().claimReceipt(service, key, PUBLISHED_AT)).toEqual({ status: 'pending' });
    expect(await repository().claimReceipt(other, key, PUBLISHED_AT)).toEqual({ status: 'new' });

    await repository().completeReceipt(service, key, result);
    expect(await repository().claimReceipt(service, key, PUBLISHED_AT)).toEqual({ status: 'done', result });
    await repository().completeReceipt(service, key, { something: 'else' });
    await repository().releaseReceipt(service, key);
    expect(await repository().claimReceipt(service, key, PUBLISHED_AT)).toEqual({ status: 'done', result });

    await repository().releaseReceipt(other, key);
    expect(await repository().claimReceipt(other, key, PUBLISHED_AT)).toEqual({ status: 'new' });
    await repository().completeReceipt(other, key, undefined);
    expect(await repository().claimReceipt(other, key, PUBLISHED_AT)).toEqual({
      status: 'done',
      result: null,
    });

    const [early, late] = [newUser(), newUser()];
    await repository().claimReceipt(early, key, new Date('2020-01-01T00:00:00.000Z'));
    await repository().claimReceipt(late, key, new Date('2030-01-01T00:00:00.000Z'));
    await repository().completeReceipt(late, key, 'late');
    expect(
      await repository().deleteReceiptsBefore(new Date('2025-01-01T00:00:00.000Z')),
    ).toBeGreaterThanOrEqual(1);
    expect(await repository().claimReceipt(early, key, PUBLISHED_AT)).toEqual({ status: 'new' });
    expect(await repository().claimReceipt(late, key, PUBLISHED_AT)).toEqual({
      status: 'done',
      result: 'late',
    });
    expect(await repository().deleteReceiptsBefore(new Date('2025-01-01T00:00:00.000Z'))).toBe(0);
  });

  it('round-trips data through JSON, undefined reading back as null', async () => {
    const alice = newUser();
    const cases: { data: unknown; readsBack: unknown }[] = [
      { data: { nested: { list: [1, 'two', true, null] }, text: 'é ✓ "quoted"' }, readsBack: 'same' },
      { data: ['a', 1], readsBack: 'same' },
      { data: 'plain', readsBack: 'same' },
      { data: 0, readsBack: 'same' },
      { data: false, readsBack: 'same' },
      { data: null, readsBack: null },
      { data: undefined, readsBack: null },
      { data: { dropped: undefined, kept: 1 }, readsBack: { kept: 1 } },
      { data: { at: PUBLISHED_AT }, readsBack: { at: PUBLISHED_AT.toISOString() } },
    ];
    for (const { data, readsBack } of cases) {
      const want = readsBack === 'same' ? data : readsBack;
      const [stored] = await notify({ userIds: [alice] }, 'data', { data });
      expect(stored?.data).toEqual(want);
      const [forEveryone] = await notify({ broadcast: true }, 'data', { data });
      expect(forEveryone?.data).toEqual(want);
      if (!stored) throw new Error('Nothing stored');
      expect(itemAt((await repository().after(alice, stored.id - 1, 2)).notifications, 0).data).toEqual(want);
      expect((await repository().markRead(alice, stored.id, PUBLISHED_AT))?.data).toEqual(want);
    }
  });

  it('answers unknown ids and unknown users with nothing', async () => {
    await emptyStore();
    const stranger = newUser();
    for (const id of [987_654_321, 0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
      expect(await repository().markRead(stranger, id, PUBLISHED_AT)).toBeNull();
    }
    expect(await repository().inbox(stranger, { unreadOnly: false, limit: 10 })).toEqual({
      notifications: [],
      hasMore: false,
    });
    expect(await repository().inbox(stranger, { unreadOnly: true, before: 5, limit: 1 })).toEqual({
      notifications: [],
      hasMore: false,
    });
    expect(await repository().after(stranger, 0, 10)).toEqual({ notifications: [], hasMore: false });
    expect(await repository().unreadCount(stranger)).toBe(0);
    expect(await repository().markAllRead(stranger, PUBLISHED_AT)).toBe(0);
    expect(await repository().deleteCreatedBefore(END_OF_TIME)).toBe(0);
    await repository().completeReceipt(stranger, 'unknown', { stored: 1 });
    await repository().releaseReceipt(stranger, 'unknown');
    expect(await repository().claimReceipt(stranger, 'unknown', PUBLISHED_AT)).toEqual({ status: 'new' });
  });
}

function sample(): Omit<NewNotifications, 'to'> {
  return { title: 'Title', body: 'Body', level: 'info', data: undefined, createdAt: PUBLISHED_AT };
}

describe('InMemoryNotificationRepository (the unit tests’ double)', () => {
  const repository = new InMemoryNotificationRepository();
  notificationRepositoryContract(() => repository);
});

/** The contract against each database, then what only a database does. */
describeOnEachDatabase(
  'KyselyNotificationRepository',
  (database) => new KyselyNotificationRepository(database),
  (opened) => {
    notificationRepositoryContract(() => opened().repository);

    it('keeps notifications, read state and receipts when the database is opened again', async () => {
      const { repository } = opened();
      const [alice, bob] = [newUser(), newUser()];
      const [own] = await repository.insert({ ...sample(), to: { userIds: [alice] }, data: { kept: true } });
      const [everyone] = await repository.insert({ ...sample(), to: { broadcast: true } });
      if (!own || !everyone) throw new Error('Nothing stored');
      await repository.markAllRead(alice, PUBLISHED_AT);
      const [later] = await repository.insert({ ...sample(), to: { userIds: [alice] } });
      if (!later) throw new Error('Nothing stored');
      await repository.markRead(bob, everyone.id, PUBLISHED_AT);
      await repository.claimReceipt(alice, 'done', PUBLISHED_AT);
      await repository.completeReceipt(alice, 'done', { stored: 1 });
      await repository.claimReceipt(alice, 'pending', PUBLISHED_AT);

      const reopened = await DatabaseService.connect(opened().target);
      try {
        const reader = new KyselyNotificationRepository(reopened);
        expect((await reader.after(alice, own.id - 1, 10)).notifications).toEqual([
          { ...own, read: true },
          { ...everyone, read: true },
          later,
        ]);
        expect((await reader.after(bob, own.id - 1, 10)).notifications).toEqual([
          { ...everyone, read: true },
        ]);
        expect(await reader.claimReceipt(alice, 'done', PUBLISHED_AT)).toEqual({
          status: 'done',
          result: { stored: 1 },
        });
        expect(await reader.claimReceipt(alice, 'pending', PUBLISHED_AT)).toEqual({ status: 'pending' });
        const [next] = await reader.insert({ ...sample(), to: { userIds: [alice] } });
        expect(next?.id).toBeGreaterThan(later.id);
      } finally {
        await reopened.close();
      }
    });

    it('deletes the read state of what retention deletes, and never reuses an id', async () => {
      const { database, repository } = opened();
      const [alice, bob] = [newUser(), newUser()];
      const [everyone] = await repository.insert({
        ...sample(),
        to: { broadcast: true },
        createdAt: new Date('2001-01-01T00:00:00.000Z'),
      });
      if (!everyone) throw new Error('Nothing stored');
      await repository.markRead(alice, everyone.id, PUBLISHED_AT);
      await repository.markRead(bob, everyone.id, PUBLISHED_AT);
      const readRows = () =>
        database.db
          .selectFrom('notification_reads')
          .selectAll()
          .where('notification_id', '=', everyone.id)
          .execute();
      expect(await readRows()).toHaveLength(2);

      await repository.deleteCreatedBefore(new Date('2002-01-01T00:00:00.000Z'));
      expect(await readRows()).toEqual([]);
      await repository.deleteCreatedBefore(END_OF_TIME);
      const [next] = await repository.insert({ ...sample(), to: { broadcast: true } });
      expect(next?.id).toBeGreaterThan(everyone.id);
    });

    it('writes one cursor row when marking all read, however many notifications', async () => {
      const { database, repository } = opened();
      const alice = newUser();
      await repository.insert({ ...sample(), to: { userIds: [alice] } });
      for (let index = 0; index < 5; index++)
        await repository.insert({ ...sample(), to: { broadcast: true } });
      const [individually] = await repository.insert({ ...sample(), to: { userIds: [alice] } });
      if (!individually) throw new Error('Nothing stored');
      await repository.markRead(alice, individually.id, PUBLISHED_AT);

      await repository.markAllRead(alice, PUBLISHED_AT);
      const [cursors, reads] = await Promise.all([
        database.db
          .selectFrom('notification_read_cursors')
          .selectAll()
          .where('user_id', '=', alice)
          .execute(),
        database.db.selectFrom('notification_reads').selectAll().where('user_id', '=', alice).execute(),
      ]);
      expect(cursors).toEqual([
        { user_id: alice, read_up_to_id: individually.id, updated_at: PUBLISHED_AT.getTime() },
      ]);
      expect(reads).toEqual([]);
    });

    it('counts each notification once when one user marks all read from several connections', async () => {
      const { target, repository } = opened();
      // better-sqlite3 waits for a lock synchronously, so connections in one process would stall
      // each other; a process has one SQLite connection, whose queries Kysely runs in turn.
      if (target.kind === 'sqlite') return;
      const alice = newUser();
      await repository.insert({ ...sample(), to: { userIds: [alice] } });
      const before = await repository.unreadCount(alice);
      const connections = await Promise.all([1, 2, 3].map(() => DatabaseService.connect(target)));
      try {
        const counts = await Promise.all(
          connections.flatMap((connection) => {
            const writer = new KyselyNotificationRepository(connection);
            return [writer.markAllRead(alice, PUBLISHED_AT), writer.markAllRead(alice, PUBLISHED_AT)];
          }),
        );
        expect(counts.reduce((sum, count) => sum + count, 0)).toBe(before);
        expect(await repository.unreadCount(alice)).toBe(0);
      } finally {
        await Promise.all(connections.map((connection) => connection.close()));
      }
    });
  },
);
