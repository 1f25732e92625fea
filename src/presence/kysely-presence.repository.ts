import { Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { DatabaseService } from '../database/database.service.js';
import type { DatabaseSchema } from '../database/schema.js';
import { CHOSEN_STATUSES, type ChosenStatus } from './presence.events.js';
import { PresenceRepository, type StoredPresence } from './presence.repository.js';

/** Presence on SQLite and PostgreSQL alike. */
@Injectable()
export class KyselyPresenceRepository extends PresenceRepository {
  private readonly db: Kysely<DatabaseSchema>;

  constructor(database: DatabaseService) {
    super();
    this.db = database.db;
  }

  async find(userIds: readonly string[]): Promise<Map<string, StoredPresence>> {
    const found = new Map<string, StoredPresence>();
    const unique = [...new Set(userIds)];
    if (unique.length > 0) {
      const rows = await this.db
        .selectFrom('user_presence')
        .select(['user_id', 'status', 'last_seen_at'])
        .where('user_id', 'in', unique)
        .execute();
      for (const row of rows) {
        found.set(row.user_id, {
          status: asChosenStatus(row.status),
          lastSeenAt: row.last_seen_at === null ? null : new Date(row.last_seen_at),
        });
      }
    }
    for (const userId of unique) {
      if (!found.has(userId)) found.set(userId, { status: 'online', lastSeenAt: null });
    }
    return found;
  }

  async setStatus(userId: string, status: ChosenStatus, seenAt?: Date): Promise<void> {
    const now = Date.now();
    const lastSeen = seenAt?.getTime() ?? null;
    await this.db
      .insertInto('user_presence')
      .values({ user_id: userId, status, last_seen_at: lastSeen, updated_at: now })
      .onConflict((conflict) =>
        conflict.column('user_id').doUpdateSet((eb) => ({
          status,
          updated_at: now,
          ...(lastSeen === null ? {} : { last_seen_at: eb.val(lastSeen) }),
        })),
      )
      .execute();
  }

  async recordLastSeen(userId: string, seenAt: Date): Promise<void> {
    const at = seenAt.getTime();
    await this.db
      .insertInto('user_presence')
      .values({ user_id: userId, status: 'online', last_seen_at: at, updated_at: Date.now() })
      .onConflict((conflict) =>
        conflict.column('user_id').doUpdateSet({ last_seen_at: at, updated_at: Date.now() }),
      )
      .execute();
  }
}

/** A value written by an older or foreign version reads as the default rather than failing. */
function asChosenStatus(value: string): ChosenStatus {
  return (CHOSEN_STATUSES as readonly string[]).includes(value) ? (value as ChosenStatus) : 'online';
}
