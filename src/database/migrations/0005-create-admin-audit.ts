import type { Kysely, Migration } from 'kysely';
import type { DatabaseDialect } from '../database.service.js';

/**
 * The admin audit log (docs/protocol.md, Admin): one row per admin action, who took it, on what,
 * why, when and from which address. Rows are only ever inserted; pages read them newest first by
 * id. As for other tables, ids are never reused.
 */
export function createAdminAudit(dialect: DatabaseDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('admin_audit')
        .addColumn('id', dialect === 'postgres' ? 'bigint' : 'integer', (column) =>
          dialect === 'postgres'
            ? column.primaryKey().generatedAlwaysAsIdentity()
            : column.primaryKey().autoIncrement(),
        )
        .addColumn('actor_id', 'text', (column) => column.notNull())
        .addColumn('action', 'text', (column) => column.notNull())
        .addColumn('target', 'text')
        .addColumn('reason', 'text')
        .addColumn('details', 'text', (column) => column.notNull())
        .addColumn('address', 'text')
        .addColumn('via', 'text', (column) => column.notNull())
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .execute();
      await db.schema
        .createIndex('admin_audit_created_at_idx')
        .on('admin_audit')
        .column('created_at')
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('admin_audit').execute();
    },
  };
}
