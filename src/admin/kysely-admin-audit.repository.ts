import { Injectable } from '@nestjs/common';
import type { Kysely, Selectable } from 'kysely';
import { DatabaseService } from '../database/database.service.js';
import type { AdminAuditTable, DatabaseSchema } from '../database/schema.js';
import type { AdminAction, AuditEntry, AuditPage } from './admin.events.js';
import { AdminAuditRepository, type AuditPageQuery, type NewAuditEntry } from './admin-audit.repository.js';

/** The audit log on SQLite and PostgreSQL alike: inserts and reads, nothing else. */
@Injectable()
export class KyselyAdminAuditRepository extends AdminAuditRepository {
  private readonly db: Kysely<DatabaseSchema>;

  constructor(database: DatabaseService) {
    super();
    this.db = database.db;
  }

  async append(entry: NewAuditEntry): Promise<AuditEntry> {
    const row = await this.db
      .insertInto('admin_audit')
      .values({
        actor_id: entry.actorId,
        action: entry.action,
        target: entry.target,
        reason: entry.reason,
        details: JSON.stringify(entry.details),
        address: entry.address,
        via: entry.via,
        created_at: entry.createdAt.getTime(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toEntry(row);
  }

  async page({ before, limit }: AuditPageQuery): Promise<AuditPage> {
    const rows = await this.db
      .selectFrom('admin_audit')
      .selectAll()
      .$if(before !== undefined, (query) => query.where('id', '<', before ?? 0))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return { entries: rows.slice(0, limit).map(toEntry), hasMore: rows.length > limit };
  }
}

function toEntry(row: Selectable<AdminAuditTable>): AuditEntry {
  return {
    id: Number(row.id),
    actorId: row.actor_id,
    // An action a newer version wrote reads as it was stored.
    action: row.action as AdminAction,
    target: row.target,
    reason: row.reason,
    details: parseDetails(row.details),
    address: row.address,
    via: row.via === 'rest' ? 'rest' : 'socket',
    createdAt: new Date(Number(row.created_at)).toISOString(),
  };
}

function parseDetails(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
