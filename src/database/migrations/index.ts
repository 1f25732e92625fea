import type { Migration, MigrationProvider } from 'kysely';
import { EnabledFeatures, type SwitchboardFeature } from '../../config/features.js';
import type { DatabaseDialect } from '../database.service.js';
import { createChatTables } from './0001-create-chat-tables.js';
import { addMessageSeq } from './0002-add-message-seq.js';
import { createUserPresence } from './0003-create-user-presence.js';
import { createNotifications } from './0004-create-notifications.js';
import { createAdminAudit } from './0005-create-admin-audit.js';

interface FeatureMigration {
  name: string;
  /** The feature whose tables it creates or changes: it runs only where that feature does. */
  feature: SwitchboardFeature;
  readonly create: (dialect: DatabaseDialect) => Migration;
}

/**
 * Every migration, in the order it must run. Never rename or edit one that has shipped, add a
 * new one instead; a migration belongs to one feature and touches no other feature's tables.
 */
export const MIGRATIONS: readonly FeatureMigration[] = [
  { name: '0001-create-chat-tables', feature: 'chat', create: createChatTables },
  { name: '0002-add-message-seq', feature: 'chat', create: addMessageSeq },
  { name: '0003-create-user-presence', feature: 'presence', create: () => createUserPresence() },
  { name: '0004-create-notifications', feature: 'notifications', create: createNotifications },
  { name: '0005-create-admin-audit', feature: 'admin', create: createAdminAudit },
];

export interface MigrationSelection {
  /** The application's features: their migrations run (default: every feature). */
  features?: EnabledFeatures;
  /**
   * Migrations the database already ran. They stay known even when their feature is left out
   * now, which Kysely requires of every executed migration; being executed, none runs again.
   */
  applied?: readonly string[];
}

/**
 * Migrations live in code rather than in globbed files so that they run the same from `src/`
 * under test and from `dist/` in production. Names sort in the order they must run. Only the
 * enabled features' migrations are offered: a feature chosen later runs its own then, even when
 * their names sort before migrations already applied (the migrator allows that order).
 */
export class InCodeMigrationProvider implements MigrationProvider {
  private readonly features: EnabledFeatures;
  private readonly applied: ReadonlySet<string>;

  constructor(
    private readonly dialect: DatabaseDialect,
    selection: MigrationSelection = {},
  ) {
    this.features = selection.features ?? new EnabledFeatures();
    this.applied = new Set(selection.applied ?? []);
  }

  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(
      Object.fromEntries(
        MIGRATIONS.filter(({ name, feature }) => this.features.has(feature) || this.applied.has(name)).map(
          ({ name, create }) => [name, create(this.dialect)],
        ),
      ),
    );
  }
}
