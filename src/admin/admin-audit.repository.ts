import type { AdminAction, AuditEntry, AuditPage } from './admin.events.js';

/** An admin action to record. */
export interface NewAuditEntry {
  actorId: string;
  action: AdminAction;
  target: string | null;
  reason: string | null;
  /** Stored as JSON. */
  details: Record<string, unknown>;
  address: string | null;
  via: AuditEntry['via'];
  createdAt: Date;
}

export interface AuditPageQuery {
  /** Only entries with a smaller id. */
  before?: number;
  /** ≥ 1. */
  limit: number;
}

/**
 * The admin audit log (docs/protocol.md, Admin): append-only. There is no way to change or
 * delete an entry through this port, so no route built on it can. A database that cannot be
 * reached makes every method reject with `AppError` `SERVICE_UNAVAILABLE`.
 */
export abstract class AdminAuditRepository {
  /** Stores the entry; answers it with its id (ids increase). */
  abstract append(entry: NewAuditEntry): Promise<AuditEntry>;

  /** The newest entries first, older than `before` when given. */
  abstract page(query: AuditPageQuery): Promise<AuditPage>;
}
