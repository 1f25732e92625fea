import { randomUUID } from 'node:crypto';
import { DatabaseService } from '../../src/database/database.service.js';
import { KyselyPresenceRepository } from '../../src/presence/kysely-presence.repository.js';
import type { PresenceRepository } from '../../src/presence/presence.repository.js';
import { describeOnEachDatabase } from '../support/contract-databases.js';
import { InMemoryPresenceRepository } from '../support/memory-presence.repository.js';

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

describe('InMemoryPresenceRepository (the unit tests’ double)', () => {
  const repository = new InMemoryPresenceRepository();
  presenceRepositoryContract(() => repository);
});

describeOnEachDatabase(
  'KyselyPresenceRepository',
  (database) => new KyselyPresenceRepository(database),
  (opened) => {
    presenceRepositoryContract(() => opened().repository);

    it('keeps statuses and last-seen times when the database is opened again', async () => {
      const { target, repository } = opened();
      const alice = newUser();
      const seen = new Date('2032-01-01T00:00:00.000Z');
      await repository.setStatus(alice, 'away');
      await repository.recordLastSeen(alice, seen);
      const reopened = await DatabaseService.connect(target);
      try {
        const found = await new KyselyPresenceRepository(reopened).find([alice]);
        expect(found.get(alice)).toEqual({ status: 'away', lastSeenAt: seen });
      } finally {
        await reopened.close();
      }
    });
  },
);
