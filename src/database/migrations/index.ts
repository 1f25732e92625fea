import type { Migration, MigrationProvider } from 'kysely';
import type { DatabaseDialect } from '../database.service.js';
import { createChatTables } from './0001-create-chat-tables.js';
import { addMessageSeq } from './0002-add-message-seq.js';
import { createUserPresence } from './0003-create-user-presence.js';
import { createNotifications } from './0004-create-notifications.js';

/**
 * Migrations live in code rather than in globbed files so that they run the same from `src/`
 * under test and from `dist/` in production. Names sort in the order they must run; never
 * rename or edit one that has shipped, add a new one instead.
 */
export class InCodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: DatabaseDialect) {}

  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve({
      '0001-create-chat-tables': createChatTables(this.dialect),
      '0002-add-message-seq': addMessageSeq(this.dialect),
      '0003-create-user-presence': createUserPresence(),
      '0004-create-notifications': createNotifications(this.dialect),
    });
  }
}
