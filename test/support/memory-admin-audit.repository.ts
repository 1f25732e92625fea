import {
  AdminAuditRepository,
  type AuditPageQuery,
  type NewAuditEntry,
} from '../../src/admin/admin-audit.repository.js';
import type { AuditEntry, AuditPage } from '../../src/admin/admin.events.js';

/** The `AdminAuditRepository` contract in memory: an array that only grows. */
export class InMemoryAdminAuditRepository extends AdminAuditRepository {
  private readonly entries: AuditEntry[] = [];

  append(entry: NewAuditEntry): Promise<AuditEntry> {
    const stored: AuditEntry = {
      id: this.entries.length + 1,
      actorId: entry.actorId,
      action: entry.action,
      target: entry.target,
      reason: entry.reason,
      details: structuredClone(entry.details),
      address: entry.address,
      via: entry.via,
      createdAt: entry.createdAt.toISOString(),
    };
    this.entries.push(stored);
    return Promise.resolve(structuredClone(stored));
  }

  page({ before, limit }: AuditPageQuery): Promise<AuditPage> {
    const older = this.entries.filter((entry) => before === undefined || entry.id < before).reverse();
    return Promise.resolve({
      entries: structuredClone(older.slice(0, limit)),
      hasMore: older.length > limit,
    });
  }
}
