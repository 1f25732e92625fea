import { Injectable } from '@nestjs/common';
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import { DatabaseService, type DatabaseDialect } from '../database/database.service.js';
import { PreparedQuery } from '../database/prepared-query.js';
import type { DatabaseSchema, EpochMillis } from '../database/schema.js';
import {
  NotificationRepository,
  type InboxQuery,
  type NewNotifications,
  type PublishReceipt,
} from './notification.repository.js';
import type { Notification, NotificationLevel } from './notifications.events.js';

/** A notification row as selected here: stored columns, and `read` (1 or 0) for one user. */
interface NotificationRow {
  id: number;
  user_id: string | null;
  title: string;
  body: string;
  level: string;
  data: string | null;
  created_at: EpochMillis;
  read: number;
}

type NotificationsBuilder = ExpressionBuilder<DatabaseSchema & { n: DatabaseSchema['notifications'] }, 'n'>;

/** Which of the user's notifications a query reads: their own rows, or the broadcast ones. */
type Addressed = 'own' | 'broadcast';
const ADDRESSED: readonly Addressed[] = ['own', 'broadcast'];

/** Claims that find the receipt released between their insert and their read try again. */
const CLAIM_ATTEMPTS = 3;

/**
 * The notification repository on SQLite and PostgreSQL alike; every statement is valid on both
 * except the table function that spreads a JSON array of recipients into rows.
 *
 * A user's notifications are their own rows (`user_id = me`) and the broadcast ones
 * (`user_id is null`); pages read each kind in id order from its own index (`(user_id, id)`, and
 * the partial index of broadcast rows) and merge them, rather than an `or` the planners would
 * sort. A notification is read for a user when its id is at most their read-all cursor or they
 * have a `notification_reads` row for it.
 */
@Injectable()
export class KyselyNotificationRepository extends NotificationRepository {
  private readonly db: Kysely<DatabaseSchema>;
  /** The statements run per publish and per inbox request, built once. */
  private readonly prepared: ReturnType<typeof prepareHotQueries>;

  constructor(database: DatabaseService) {
    super();
    this.db = database.db;
    this.prepared = prepareHotQueries(database.db, database.dialect);
  }

  async insert({ to, title, body, level, data, createdAt }: NewNotifications): Promise<Notification[]> {
    const recipients: (string | null)[] = 'broadcast' in to ? [null] : [...new Set(to.userIds)];
    if (recipients.length === 0) return [];
    const rows = await this.prepared.insert.execute({
      recipients: JSON.stringify(recipients),
      title,
      body,
      level,
      data: serializeData(data),
      createdAt: createdAt.getTime(),
    });
    // RETURNING promises no order: answer in the order the recipients were named.
    const byRecipient = new Map(rows.map((row) => [row.user_id, row]));
    return recipients.map((recipient) => {
      const row = byRecipient.get(recipient);
      if (!row) throw new Error(`The notification for ${recipient ?? 'everyone'} was not returned`);
      return toNotification({ ...row, read: 0 });
    });
  }

  async inbox(
    userId: string,
    { unreadOnly, before, limit }: InboxQuery,
  ): Promise<{ notifications: Notification[]; hasMore: boolean }> {
    const page = (addressed: Addressed) =>
      notificationsOf(this.db, userId, addressed)
        .$if(before !== undefined, (query) => query.where('n.id', '<', before ?? 0))
        .$if(unreadOnly, (query) => query.where((eb) => unreadBy(eb, userId)))
        .orderBy('n.id', 'desc')
        .limit(limit + 1);
    const rows = await this.mergedPage(page('own'), page('broadcast'), 'desc', limit);
    return toPage(rows, limit);
  }

  async after(
    userId: string,
    afterId: number,
    limit: number,
  ): Promise<{ notifications: Notification[]; hasMore: boolean }> {
    const page = (addressed: Addressed) =>
      notificationsOf(this.db, userId, addressed)
        .where('n.id', '>', afterId)
        .orderBy('n.id', 'asc')
        .limit(limit + 1);
    const rows = await this.mergedPage(page('own'), page('broadcast'), 'asc', limit);
    return toPage(rows, limit);
  }

  async unreadCount(userId: string): Promise<number> {
    const counts = await this.prepared.unreadCount.executeTakeFirst({ userId });
    return Number(counts?.own ?? 0) + Number(counts?.broadcast ?? 0);
  }

  async markRead(userId: string, notificationId: number, at: Date): Promise<Notification | null> {
    if (!isStoredId(notificationId)) return null;
    const row = await this.db
      .selectFrom('notifications as n')
      .select((eb) => [...NOTIFICATION_COLUMNS, readFlag(eb, userId).as('read')])
      .where('n.id', '=', notificationId)
      .where((eb) => eb.or([addressedTo(eb, userId, 'own'), addressedTo(eb, userId, 'broadcast')]))
      .executeTakeFirst();
    if (!row) return null;
    if (row.read !== 1) {
      // Inserting from the notification row makes one deleted meanwhile insert nothing.
      await this.db
        .insertInto('notification_reads')
        .columns(['notification_id', 'user_id', 'read_at'])
        .expression((eb) =>
          eb
            .selectFrom('notifications')
            .select([
              'id',
              sql<string>`cast(${userId} as text)`.as('user_id'),
              sql<EpochMillis>`cast(${at.getTime()} as bigint)`.as('read_at'),
            ])
            .where('id', '=', notificationId),
        )
        .onConflict((conflict) => conflict.columns(['notification_id', 'user_id']).doNothing())
        .execute();
    }
    return toNotification({ ...row, read: 1 });
  }

  async markAllRead(userId: string, at: Date): Promise<number> {
    const now = at.getTime();
    return this.db.transaction().execute(async (transaction) => {
      // Reads the cursor through a write that changes nothing, which on PostgreSQL holds the
      // row's lock to the end: concurrent read-alls of one user then count each notification once.
      const { read_up_to_id: cursor } = await transaction
        .insertInto('notification_read_cursors')
        .values({ user_id: userId, read_up_to_id: 0, updated_at: now })
        .onConflict((conflict) =>
          conflict
            .column('user_id')
            .doUpdateSet((eb) => ({ read_up_to_id: eb.ref('notification_read_cursors.read_up_to_id') })),
        )
        .returning('read_up_to_id')
        .executeTakeFirstOrThrow();

      const latest = await transaction
        .selectNoFrom((eb) =>
          ADDRESSED.map((addressed) =>
            eb
              .selectFrom('notifications as n')
              .select((inner) => inner.fn.max('n.id').as('id'))
              .where((inner) => addressedTo(inner, userId, addressed))
              .as(addressed),
          ),
        )
        .executeTakeFirstOrThrow();
      const upTo = Math.max(Number(latest.own ?? 0), Number(latest.broadcast ?? 0));
      if (upTo <= cursor) return 0;

      const unread = await transaction
        .selectNoFrom((eb) =>
          ADDRESSED.map((addressed) =>
            eb
              .selectFrom('notifications as n')
              .select((inner) => inner.fn.countAll<number>().as('count'))
              .where((inner) => addressedTo(inner, userId, addressed))
              .where('n.id', '>', cursor)
              .where('n.id', '<=', upTo)
              .where((inner) => inner.not(inner.exists(readRowOf(inner, userId))))
              .as(addressed),
          ),
        )
        .executeTakeFirstOrThrow();

      await transaction
        .updateTable('notification_read_cursors')
        .set({ read_up_to_id: upTo, updated_at: now })
        .where('user_id', '=', userId)
        .execute();
      // The cursor now covers them.
      await transaction
        .deleteFrom('notification_reads')
        .where('user_id', '=', userId)
        .where('notification_id', '<=', upTo)
        .execute();
      return Number(unread.own ?? 0) + Number(unread.broadcast ?? 0);
    });
  }

  async deleteCreatedBefore(before: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('notifications')
      .where('created_at', '<', before.getTime())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async claimReceipt(actorId: string, key: string, at: Date): Promise<PublishReceipt> {
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
      const claimed = await this.db
        .insertInto('publish_receipts')
        .values({ actor_id: actorId, idempotency_key: key, result: null, created_at: at.getTime() })
        .onConflict((conflict) => conflict.columns(['actor_id', 'idempotency_key']).doNothing())
        .returning('actor_id')
        .executeTakeFirst();
      if (claimed) return { status: 'new' };

      const stored = await this.db
        .selectFrom('publish_receipts')
        .select('result')
        .where('actor_id', '=', actorId)
        .where('idempotency_key', '=', key)
        .executeTakeFirst();
      if (stored) {
        return stored.result === null
          ? { status: 'pending' }
          : { status: 'done', result: JSON.parse(stored.result) as unknown };
      }
      // Released between the two statements: claim again.
    }
    return { status: 'pending' };
  }

  async completeReceipt(actorId: string, key: string, result: unknown): Promise<void> {
    await this.db
      .updateTable('publish_receipts')
      .set({ result: serializeData(result) ?? 'null' })
      .where('actor_id', '=', actorId)
      .where('idempotency_key', '=', key)
      .where('result', 'is', null)
      .execute();
  }

  async releaseReceipt(actorId: string, key: string): Promise<void> {
    await this.db
      .deleteFrom('publish_receipts')
      .where('actor_id', '=', actorId)
      .where('idempotency_key', '=', key)
      .where('result', 'is', null)
      .execute();
  }

  async deleteReceiptsBefore(before: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('publish_receipts')
      .where('created_at', '<', before.getTime())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** The first `limit + 1` rows of two pages ordered alike, each already cut at `limit + 1`. */
  private mergedPage(
    own: NotificationQuery,
    broadcast: NotificationQuery,
    direction: 'asc' | 'desc',
    limit: number,
  ): Promise<NotificationRow[]> {
    // Each page is wrapped in a subquery: SQLite allows no `order by` or `limit` in a compound
    // select's members.
    const merged = this.db
      .selectFrom(own.as('own'))
      .selectAll()
      .unionAll(this.db.selectFrom(broadcast.as('broadcast')).selectAll());
    return this.db
      .selectFrom(merged.as('merged'))
      .selectAll()
      .orderBy('id', direction)
      .limit(limit + 1)
      .execute();
  }
}

/** The user's own notifications, or the broadcast ones, each with whether the user read it. */
function notificationsOf(db: Kysely<DatabaseSchema>, userId: string, addressed: Addressed) {
  return db
    .selectFrom('notifications as n')
    .select((eb) => [...NOTIFICATION_COLUMNS, readFlag(eb, userId).as('read')])
    .where((eb) => addressedTo(eb, userId, addressed));
}

type NotificationQuery = ReturnType<typeof notificationsOf>;

const NOTIFICATION_COLUMNS = [
  'n.id',
  'n.user_id',
  'n.title',
  'n.body',
  'n.level',
  'n.data',
  'n.created_at',
] as const;

function addressedTo(eb: NotificationsBuilder, userId: string, addressed: Addressed): Expression<SqlBool> {
  return addressed === 'own' ? eb('n.user_id', '=', userId) : eb('n.user_id', 'is', null);
}

/** The user's read-all cursor: 0 before their first read-all. */
function readCursorOf(eb: NotificationsBuilder, userId: string) {
  return eb.fn.coalesce(
    eb
      .selectFrom('notification_read_cursors')
      .select('notification_read_cursors.read_up_to_id')
      .where('notification_read_cursors.user_id', '=', userId),
    eb.lit(0),
  );
}

function readRowOf(eb: NotificationsBuilder, userId: string) {
  return eb
    .selectFrom('notification_reads as r')
    .select('r.notification_id')
    .whereRef('r.notification_id', '=', 'n.id')
    .where('r.user_id', '=', userId);
}

function unreadBy(eb: NotificationsBuilder, userId: string): Expression<SqlBool> {
  return eb.and([eb('n.id', '>', readCursorOf(eb, userId)), eb.not(eb.exists(readRowOf(eb, userId)))]);
}

/** 1 when the user has read `n`, else 0: an integer on both databases, unlike a boolean. */
function readFlag(eb: NotificationsBuilder, userId: string) {
  return eb
    .case()
    .when(eb.or([eb('n.id', '<=', readCursorOf(eb, userId)), eb.exists(readRowOf(eb, userId))]))
    .then(eb.lit(1))
    .else(eb.lit(0))
    .end();
}

type InsertParams = {
  /** JSON array of user ids, or `[null]` for a broadcast. */
  recipients: string;
  title: string;
  body: string;
  level: NotificationLevel;
  data: string | null;
  createdAt: EpochMillis;
};

/**
 * One row per recipient in one statement of fixed text whatever their number, so that a
 * 1,000-user publish binds six values rather than 6,000 and SQLite prepares it once.
 */
function insertStatement(db: Kysely<DatabaseSchema>, dialect: DatabaseDialect, params: InsertParams) {
  const recipients =
    dialect === 'postgres'
      ? sql<{ value: string | null }>`jsonb_array_elements_text(cast(${params.recipients} as jsonb))`
      : sql<{ value: string | null }>`json_each(${params.recipients})`;
  return db
    .insertInto('notifications')
    .columns(['user_id', 'title', 'body', 'level', 'data', 'created_at'])
    .expression((eb) =>
      eb
        .selectFrom(recipients.as('recipient'))
        .select([
          sql<string | null>`cast(recipient.value as text)`.as('user_id'),
          sql<string>`cast(${params.title} as text)`.as('title'),
          sql<string>`cast(${params.body} as text)`.as('body'),
          sql<string>`cast(${params.level} as text)`.as('level'),
          sql<string | null>`cast(${params.data} as text)`.as('data'),
          sql<EpochMillis>`cast(${params.createdAt} as bigint)`.as('created_at'),
        ]),
    )
    .returningAll();
}

function prepareHotQueries(db: Kysely<DatabaseSchema>, dialect: DatabaseDialect) {
  return {
    insert: new PreparedQuery(db, (params: InsertParams) => insertStatement(db, dialect, params), [
      'recipients',
      'title',
      'body',
      'level',
      'data',
      'createdAt',
    ]),
    unreadCount: new PreparedQuery(
      db,
      (params: { userId: string }) =>
        db.selectNoFrom((eb) =>
          ADDRESSED.map((addressed) =>
            eb
              .selectFrom('notifications as n')
              .select((inner) => inner.fn.countAll<number>().as('count'))
              .where((inner) => addressedTo(inner, params.userId, addressed))
              .where((inner) => unreadBy(inner, params.userId))
              .as(addressed),
          ),
        ),
      ['userId'],
    ),
  };
}

function isStoredId(id: number): boolean {
  return Number.isSafeInteger(id) && id > 0;
}

/** JSON text, or null for `undefined` (and for what JSON cannot represent at the top level). */
function serializeData(data: unknown): string | null {
  if (data === undefined) return null;
  const text = JSON.stringify(data) as string | undefined;
  return text ?? null;
}

function toNotification(row: NotificationRow): Notification {
  return {
    id: row.id,
    ...(row.user_id !== null && { userId: row.user_id }),
    title: row.title,
    body: row.body,
    level: row.level as NotificationLevel,
    data: row.data === null ? null : (JSON.parse(row.data) as unknown),
    timestamp: new Date(row.created_at).toISOString(),
    read: Number(row.read) === 1,
  };
}

function toPage(rows: NotificationRow[], limit: number): { notifications: Notification[]; hasMore: boolean } {
  return { notifications: rows.slice(0, limit).map(toNotification), hasMore: rows.length > limit };
}
