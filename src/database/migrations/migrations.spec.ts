import { EnabledFeatures } from '../../config/features.js';
import { InCodeMigrationProvider, MIGRATIONS } from './index.js';

const namesOf = async (provider: InCodeMigrationProvider) =>
  Object.keys(await provider.getMigrations()).sort();

describe('migrations per feature', () => {
  it('keep their names and order (shipped databases know them by name)', () => {
    expect(MIGRATIONS.map(({ name, feature }) => `${name} ${feature}`)).toEqual([
      '0001-create-chat-tables chat',
      '0002-add-message-seq chat',
      '0003-create-user-presence presence',
      '0004-create-notifications notifications',
      '0005-create-admin-audit admin',
    ]);
  });

  it('offer every migration by default', async () => {
    expect(await namesOf(new InCodeMigrationProvider('sqlite'))).toEqual(MIGRATIONS.map(({ name }) => name));
  });

  it("offer only the enabled features' migrations, and those the database already ran", async () => {
    expect(
      await namesOf(new InCodeMigrationProvider('sqlite', { features: new EnabledFeatures(['sessions']) })),
    ).toEqual([]);
    expect(
      await namesOf(
        new InCodeMigrationProvider('postgres', {
          features: new EnabledFeatures(['presence']),
          applied: ['0001-create-chat-tables'],
        }),
      ),
    ).toEqual(['0001-create-chat-tables', '0003-create-user-presence']);
  });
});
