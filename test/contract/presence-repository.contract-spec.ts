import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseTarget } from '../../src/config/app-config.js';
import { DatabaseService } from '../../src/database/database.service.js';
import { KyselyPresenceRepository } from '../../src/presence/kysely-presence.repository.js';
import type { PresenceRepository } from '../../src/presence/presence.repository.js';
import { InMemoryPresenceRepository } from '../support/memory-presence.repository.js';
import { describeWithPostgres, startPostgres, type TestPostgres } from '../support/postgres.js';

const START_TIMEOUT_MS = 120_000;
const newUser = (): string => `user-${randomUUID()}`;

/** What every `PresenceRepository` must do: each database, and the unit tests' double. */
function presenceRepositoryContract(repository: () => PresenceRepository): void {
  it('reads users it never stored as online-by-choice and never seen', async () => {
    const [stranger, other] = [newUser(), newUser()];
    const found = await repository().find([stranger, other, stranger]);
    expect([...found]).toEqual([
      [stranger, { status: 'online', lastSeenAt: null }],
      [other, { status: 'online', lastSeenAt: null }],
    ]);
    expect(await repository().find([])).toEqual(new Map());
  });

  it('keeps a chosen status, and the last-seen time apart from it', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const seen = new Date('2031-02-03T04:05:06.789Z');
    await repository().recordLastSeen(alice, seen);
    await repository().setStatus(alice, 'busy');
    await repository().setStatus(bob, 'away');

    const found = await repository().find([alice, bob]);
    expect(found.get(alice)).toEqual({ status: 'busy', lastSeenAt: seen });
    expect(found.get(bob)).toEqual({ status: 'away', lastSeenAt: null });

    const invisibleAt = new Date('2031-02-03T05:00:00.000Z');
    await repository().setStatus(alice, 'invisible', invisibleAt);
    expect((await repository().find([alice])).get(alice)).toEqual({
      status: 'invisible',
      lastSeenAt: invisibleAt,
    });
    const later = new Date('2031-02-03T06:00:00.000Z');
    await repository().recordLastSeen(alice, later);
    expect((await repository().find([alice])).get(alice)).toEqual({ status: 'invisible', lastSeenAt: later });
  });
}

function describeOn(
  title: string,
  target: () => Promise<DatabaseTarget>,
  cleanUp: () => Promise<void>,
): void {
  describe(title, () => {
    let opened: DatabaseTarget | undefined;
    let database: DatabaseService | undefined;
    let repository: PresenceRepository | undefined;

    beforeAll(async () => {
      opened = await target();
      database = await DatabaseService.connect(opened);
      repository = new KyselyPresenceRepository(database);
    }, START_TIMEOUT_MS);

    afterAll(async () => {
      await database?.close();
      await cleanUp();
    }, START_TIMEOUT_MS);

    const current = (): PresenceRepository => {
      if (!repository) throw new Error('The database did not open');
      return repository;
    };
    presenceRepositoryContract(current);

    it('keeps statuses and last-seen times when the database is opened again', async () => {
      if (!opened) throw new Error('The database did not open');
      const alice = newUser();
      const seen = new Date('2032-01-01T00:00:00.000Z');
      await current().setStatus(alice, 'away');
      await current().recordLastSeen(alice, seen);
      const reopened = await DatabaseService.connect(opened);
      try {
        const found = await new KyselyPresenceRepository(reopened).find([alice]);
        expect(found.get(alice)).toEqual({ status: 'away', lastSeenAt: seen });
      } finally {
        await reopened.close();
      }
    });
  });
}

describe('InMemoryPresenceRepository (the unit tests’ double)', () => {
  const repository = new InMemoryPresenceRepository();
  presenceRepositoryContract(() => repository);
});

let directory: string | undefined;
describeOn(
  'KyselyPresenceRepository on a SQLite file',
  async () => {
    directory = await mkdtemp(join(tmpdir(), 'switchboard-presence-'));
    return { kind: 'sqlite', filename: join(directory, 'presence.db') };
  },
  async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  },
);

let postgres: TestPostgres | undefined;
describeWithPostgres('KyselyPresenceRepository on PostgreSQL', () => {
  describeOn(
    'contract',
    async () => {
      postgres = await startPostgres();
      return { kind: 'postgres', connectionString: postgres.connectionString, poolSize: 4 };
    },
    async () => {
      await postgres?.stop();
    },
  );
});
